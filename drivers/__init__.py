"""Device drivers: each device kind behind one narrow seam, with real backends and behavioural
fakes.

ESC/POS ticket printers (``escpos_printer``, the print-job seam ``ticket_printer``, raster
``raster``, status ``printer_status``, plain backends ``plain_printers``), the tactile keypad
(``keypad``), the LED "now serving" panel (``led_panel``), ccTalk cash devices (``cctalk`` and
the ``cash`` package), the JPKI card reader (``card_reader``, ``jpki``, ``pcsc_reader``, the
simulated card ``jpki_sim``), speech (``speech``, ``japanese_numbers``), the chime, display
power, and the pty base the serial fakes share (``serial_fake``).

Imports: :mod:`common` only of the project - never sync, an app or the profiles. A driver
declares the facts and port settings it needs; provisioning (firmware_profiles) fills them in.
"""
