"""Device drivers: each device kind behind one narrow seam, with real backends and behavioural
fakes.

ESC/POS ticket printers (``escpos_printer``, what it declares apart from its code -
facts, serial line, ``[printer]`` section - ``printer_model``, the print-job seam
``ticket_printer``, raster ``raster``, status ``printer_status``, plain backends
``plain_printers``), the kiosk's A4 printer's ``[document_printer]`` section
(``document_printer``), the tactile keypad (``keypad``), the LED "now serving" panel
(``led_panel``), what those two share - one worker thread per serial device
(``serial_worker``), ccTalk cash devices (``cctalk``, its simulator ``fake_cctalk`` and the
``cash`` package), the JPKI card reader (``card_reader``, ``jpki``, ``pcsc_reader``, the
simulated card ``jpki_sim``), speech (``speech``, ``japanese_numbers``), the chime
(``chime``), display power (``display_power``), what a serial driver declares of its port
(``serial_line``) and the pty base the serial fakes share (``serial_fake``).

Imports: :mod:`common` only of the project - never sync, an app or the profiles. A driver
declares the facts and port settings it needs; provisioning (firmware_profiles) fills them in
and checks profiles against them.
"""
