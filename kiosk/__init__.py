"""The self-service certificate kiosk (自動交付機): card + PIN, cash, A4 print.

The pure flow of a visit (the ``flow`` package), the money journal and recovery (``journal``,
``recovery``), the print binding to the live session (``binding``), the ports it needs
(``ports``) and the runtime that drives them (``runtime``), the office link over MQTT
(``office_link``), what it says of itself in its device status (``health``), document and
receipt printers (``printers``), the device assembled from its configuration (``device``), the
screens' decisions and the Kivy screen (``presenter``, ``app``, ``strings``), the opening hours
both the screen and the office link go by (``hours``), stand-ins for the demo (``ui_fakes``), a
control channel (``control``) and the command line (``cli``).

Imports: common, sync, certificates, drivers and firmware_profiles - never another app.
"""
