"""The staff console: a Starlette app the office serves on its LAN (docs/staff.md).

The app and its routes (``app``), the live view it renders from (``hub``), the HTML (``render``,
the templates), the words in Japanese and English (``strings``, ``texts``; the statistics'
``stats_words``), the statistics pages' figures and plots (``stats_view``), the desk's ticket
(``desk_ticket``) and the uvicorn server (``server``). At a ward's centre: the ward's floor and
statistics (``ward_view``, from the ward's PostgreSQL) and the shared input centre's desk
(``ward_input_view``, over office/ward_desk.py).

Imports: common, sync, drivers, firmware_profiles (the desk printer's packaged model facts) and
office's own modules - never another app.
"""
