"""Certificates (証明書) as the town issues them, shared by the office and the kiosk (pure core).

What a certificate is and who may have one: the five kinds, their options, the fee schedule
and the refusals (``rules``); the resident registry they are made from (``registry``); a
certificate's content as typed frozen models, one per kind, made by ``rules`` and read back
once by the kiosk from the issue reply's plain data (``content``); checking a My Number card's
answer to a challenge (``card_auth``); the A4 page with its anti-forgery ground, as PDF bytes
(``pdf``); the package's one error root (``errors``).

Imports: the standard library, msgspec, cryptography, Pillow and :mod:`common` - never an app
(office, kiosk), sync or the drivers. No network, no store, no clock: time, ids and
randomness are arguments.
"""
