"""The ground floor: what several apps share and none of them owns.

The business calendar and opening hours (``calendar``), one gettext helper for every catalog
(``i18n``), the command-line helpers (``cli``), typed values from untrusted data with errors
that name the key path and the fix (``validation``, msgspec), the sections every device
configuration shares - ``[device]`` and ``[display]`` (``device_config``), the installed
version (``version``), the systemd watchdog (``watchdog``), the fonts (``fonts``), the Kivy
kiosk set-up (``screen``), shared widgets (``widgets``) and handing a screen's freed heap back
to the system (``heap``).

Imports: the standard library and third-party libraries only - never another package of the
project. ``widgets`` imports kivy and is imported only by the screens, after ``screen``.
"""
