"""Device-to-office synchronisation: the wire contract and what carries it.

The typed payloads of the protocol (``messages``) and the site configuration (``site``), the
topics and encode/decode (``protocol``), the office's signature on what devices act on
(``signing``), the pairing code a technician types on a new device (``pairing``), the
per-ticket token the QR code carries (``tokens``), the crash-safe tinydb storage and segmented
logs (``store``), the outbox (``outbox``), the paho wrapper (``link``), the device agent that
ties them together (``agent``), the hybrid logical clock and clock confirmation (``hlc``,
``clock``), number leases' value types (``leases``), the journalled event (``events``) and the
exceptions' one root (``errors``).

Imports: :mod:`common` only of the project. Nothing runs at import time; the apps wire the
pieces together in their ``main()``.
"""
