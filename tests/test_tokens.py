"""Ticket tokens: unguessable, compact in a QR code, filed by their hash on the public side."""

from __future__ import annotations

import hashlib
import secrets

from sync.tokens import TOKEN_RE, new_token, normalise, ticket_key


def test_a_token_is_26_base32_characters_from_128_random_bits() -> None:
    token = new_token(lambda n: bytes(range(n)))
    assert token == "AAAQEAYEAUDAOCAJBIFQYDIOB4" and TOKEN_RE.fullmatch(token)
    tokens = {new_token(secrets.token_bytes) for _ in range(1000)}
    assert len(tokens) == 1000 and all(TOKEN_RE.fullmatch(t) for t in tokens)


def test_a_token_in_any_case_reads_as_printed_and_junk_is_none() -> None:
    token = new_token(secrets.token_bytes)
    assert normalise(f" {token.lower()} ") == token
    for junk in ("", "abc", token[:-1], token + "A", token[:-1] + "1", "../" + token[3:]):
        assert normalise(junk) is None


def test_the_key_is_the_sha256_of_the_token() -> None:
    token = new_token(secrets.token_bytes)
    assert ticket_key(token) == hashlib.sha256(token.encode()).hexdigest() and len(ticket_key(token)) == 64
