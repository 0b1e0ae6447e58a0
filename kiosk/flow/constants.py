"""The flow's fixed vocabulary: certificate kinds, coins and notes, languages, the steps of a
visit and the groups of steps the rules speak of, default fees and timeouts, outcome codes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal

KINDS: Final = ("juminhyo", "inkan", "koseki", "fuhyo", "shotoku")
COINS: Final = (10, 50, 100, 500)
NOTES: Final = (1000, 5000, 10000)  # 2000-yen notes are refused by the validator's inhibits
LANGUAGES: Final = ("ja", "en", "zh_CN", "ko", "vi", "pt")
# The same codes as a type, for the configuration's model (a test keeps the two equal).
Language = Literal["ja", "en", "zh_CN", "ko", "vi", "pt"]
DEFAULT_FEES: Final[Mapping[str, int]] = MappingProxyType(
    {"juminhyo": 300, "inkan": 300, "koseki": 450, "fuhyo": 300, "shotoku": 300}
)
MAX_COPIES: Final = 10
PIN_LENGTH: Final = 4
# Ids end up in journal keys and office request ids: keep them to a plain alphabet.
VALID_ID: Final = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")


class Step(StrEnum):
    """Where the visit is; the kiosk app shows one screen per step."""

    LANGUAGE = "language"
    CERTIFICATE = "certificate"
    OPTIONS = "options"
    INSERT_CARD = "insert_card"
    READING_CARD = "reading_card"
    PIN = "pin"
    VERIFYING_PIN = "verifying_pin"
    AUTHENTICATING = "authenticating"
    MEMBERS = "members"
    CONFIRM_FEE = "confirm_fee"
    PAYMENT = "payment"
    ISSUING = "issuing"
    PRINTING = "printing"
    SETTLING = "settling"
    TAKE_CARD = "take_card"
    GOODBYE = "goodbye"
    OUT_OF_SERVICE = "out_of_service"


DEFAULT_TIMEOUTS_MS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "certificate": 60_000,
        "options": 90_000,
        "insert_card": 60_000,
        "reading_card": 15_000,
        "pin": 60_000,
        "verifying_pin": 15_000,
        "authenticating": 40_000,
        "members": 90_000,
        "confirm_fee": 60_000,
        "payment": 120_000,
        "issuing": 60_000,
        "printing": 240_000,
        "settling": 60_000,
        "take_card": 20_000,
        "goodbye": 8_000,
    }
)
# Steps where the resident is the one we wait for: a warning comes first, and any touch resets.
RESIDENT_STEPS: Final = frozenset(
    {
        Step.CERTIFICATE,
        Step.OPTIONS,
        Step.INSERT_CARD,
        Step.PIN,
        Step.MEMBERS,
        Step.CONFIRM_FEE,
        Step.PAYMENT,
        Step.TAKE_CARD,
    }
)
# Steps a Cancel (or a pulled card, or a lost office) ends; printing has started after these.
CANCELLABLE: Final = frozenset(
    {
        Step.CERTIFICATE,
        Step.OPTIONS,
        Step.INSERT_CARD,
        Step.READING_CARD,
        Step.PIN,
        Step.VERIFYING_PIN,
        Step.AUTHENTICATING,
        Step.MEMBERS,
        Step.CONFIRM_FEE,
        Step.PAYMENT,
        Step.ISSUING,
    }
)
# Steps that need the card in the reader: pulling it ends the visit.
CARD_STEPS: Final = frozenset(
    {
        Step.READING_CARD,
        Step.PIN,
        Step.VERIFYING_PIN,
        Step.AUTHENTICATING,
        Step.MEMBERS,
        Step.CONFIRM_FEE,
        Step.PAYMENT,
        Step.ISSUING,
    }
)
# Steps that cannot go on without the office: losing it ends the visit.
NEEDS_OFFICE: Final = CARD_STEPS | {Step.CERTIFICATE, Step.OPTIONS, Step.INSERT_CARD}

# Outcome codes the goodbye / take-card screens show (never the office's reason for a refusal).
OUTCOMES: Final = frozenset(
    {
        "thank_you",
        "cancelled",
        "timeout",
        "go_to_counter",
        "card_blocked",
        "card_unreadable",
        "card_removed",
        "office_lost",
        "print_failed",
        "money_returned",
        "recovered",
        "out_of_service",
    }
)
