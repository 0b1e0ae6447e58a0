"""The ticket dispenser (番号発券機): issues numbered queue tickets, online or offline.

The headless core (``device``: number, outbox, ticket log, printer), its errors (``errors``),
numbering from leased blocks (``numbering``), the ticket and its print layout (``ticket``), the
screens' decisions (``presenter``), the Kivy screen (``app``, ``ui``), the catalog of its texts
(``strings``) and the command line (``cli``).

Imports: common, sync, drivers and firmware_profiles - never another app.
"""
