"""Where the time goes: the office's log of what happened to every ticket, and what is made of it.

``journey`` (one ticket's story told by its rows), ``figures`` (a day's or a
year's numbers), ``forecast`` (tomorrow's arrivals and the counters they need) and ``history``
(a plausible year for the demo) are pure; ``store``, ``export`` and ``plots`` are the edges.
"""
