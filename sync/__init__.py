"""Device-to-office synchronisation: wire protocol, crash-safe store, outbox and MQTT link.

Nothing here runs at import time; the apps wire the pieces together in their ``main()``.
"""
