"""The staff console: a Starlette app the office serves on its LAN (docs/staff.md).

The app and its routes (``app``), the live view it renders from (``hub``), the HTML (``render``,
the templates), the words in Japanese and English (``strings``, ``texts``; the statistics'
``stats_words``), the statistics pages' figures and plots (``stats_view``), the desk's ticket
(``desk_ticket``) and the uvicorn server (``server``).

Imports: common, sync, drivers and office's own modules - never another app.
"""
