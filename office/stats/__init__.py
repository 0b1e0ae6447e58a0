"""Where the time goes: what is made of the office's ticket log (office/ticket_log.py).

``journey`` (one ticket's story told by its rows), ``figures`` (a day's or a year's numbers),
``forecast`` (expected arrivals and the counters they need), ``outlook`` (the next days' forecast
from a store's history), ``history`` (a plausible past for the demo) and ``table`` are pure;
``charts`` and ``plots`` draw (matplotlib), ``store`` caches closed days beside the log,
``warmer`` fills that cache on a thread, ``export`` writes CSV, XLSX and Parquet.

Imports: common, sync and office's store and domain (``db``, ``sql``, ``domain``,
``ticket_log``), and the cash events' names from ``issuance`` (the report's cash sheet, in
``export``) - never the console or the server, which use it.
"""
