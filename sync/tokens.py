"""The unguessable per-ticket token the QR code carries, and the key the public page files it by.

A dispenser makes the token when it issues the ticket (offline too): 128 random bits as 26
characters of upper-case base32, which a QR code holds in its compact alphanumeric mode. The
office learns it from ``ticket.issued`` and feeds the resident's page the SHA-256 of it
(:func:`ticket_key`), so the internet-facing host never holds a token that would open a page.

Pure: randomness is an argument.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

TOKEN_BYTES = 16
TOKEN_RE = re.compile(r"^[A-Z2-7]{26}$")


def new_token(random_bytes: Callable[[int], bytes]) -> str:
    """A fresh ticket token from ``random_bytes`` (``secrets.token_bytes`` in the apps)."""
    return base64.b32encode(random_bytes(TOKEN_BYTES)).decode("ascii").rstrip("=")


def normalise(text: str) -> str | None:
    """A token as typed or scanned (any case) in its printed form, or None if it cannot be one."""
    token = text.strip().upper()
    return token if TOKEN_RE.fullmatch(token) else None


def ticket_key(token: str) -> str:
    """The public key of a ticket: the SHA-256 of its token, in hex."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()
