"""The card reader seam: APDUs in, responses out (ISO/IEC 7816-4 short APDUs).

Everything about a smart card above this module speaks in APDUs over an
:class:`ApduTransport` (``transmit(apdu) -> data + SW1 SW2``), obtained from a
:class:`CardReader`. Two readers implement it: ``drivers.pcsc_reader.PcscCardReader`` (a real
CCID reader through pcscd) and ``drivers.jpki_sim.SimulatedCardReader`` (an in-process card).
The JPKI client (``drivers.jpki``) is written once against the seam, so its exact bytes can be
tested against the simulator and then run unchanged on hardware.

Also here: the exception root of the card drivers (:class:`CardError`), command building and
parsing, status-word helpers, :class:`ApduTrace`, a transport wrapper that logs the exchange
for the technician and never records the data of a VERIFY (the resident's PIN), and the
``[card_reader]`` section of a device configuration (:class:`CardReaderConfig`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, Protocol

import msgspec

from common.validation import Invalid, info

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------


class CardReaderConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[card_reader]`` section: ``pcsc`` (a real reader through pcscd: ``reader`` is part
    of its name, "" the first one; ``eject`` for a motorised reader) or ``sim`` (``simulated``:
    the demo residents' cards of a simulated CA in ``ca_dir``). :func:`check_card_reader_config`
    holds the rules across keys and settles ``simulated`` as ``sim``."""

    noun: ClassVar[str] = "table"

    backend: Annotated[
        Literal["pcsc", "sim", "simulated"],
        info(
            what='a card reader: "pcsc" (a reader through pcscd) or "sim" (the demo residents\' cards)',
            help='add backend = "pcsc" (or "sim" for a demo)',
        ),
    ]
    reader: Annotated[str, info(what='(part of) the reader\'s name, or "" for the first')] = ""
    eject: bool = False
    ca_dir: Annotated[str, info(min_length=1, what='the simulated CA\'s directory, e.g. "var/jpki"')] | None = None

    @property
    def simulated(self) -> bool:
        """A simulated reader (the demo cards), not a real one."""
        return self.backend != "pcsc"


def check_card_reader_config(config: CardReaderConfig) -> CardReaderConfig:
    """A simulated reader needs its CA's directory, a real one has none; ``simulated`` is
    settled as ``sim``. :class:`~common.validation.Invalid` names the key and the fix."""
    if config.simulated:
        if config.ca_dir is None:
            raise Invalid(
                ("ca_dir",),
                "the simulated cards need their CA's directory, the one whose ca-cert.pem the office trusts "
                '(kiosk.jpki_ca), e.g. ca_dir = "var/jpki"',
            )
        return msgspec.structs.replace(config, backend="sim")
    if config.ca_dir is not None:
        raise Invalid(("ca_dir",), "only a simulated reader has a CA directory; remove it")
    return config


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


class CardError(Exception):
    """Root of the card reader and card errors."""


class NoCard(CardError):
    """There is no card in the reader (or it sits so that the reader cannot power it)."""


class CardRemoved(CardError):
    """The card left the reader during a session; whatever it was doing did not finish."""


class CardBlocked(CardError):
    """The card's PIN is blocked (too many wrong PINs); only the municipality can unblock it."""


class ReaderUnavailable(CardError):
    """The reader itself cannot be used: not plugged in, pcscd not running, held by another program."""


class ReaderBackendMissing(ReaderUnavailable):
    """The configured reader backend cannot run here; the message names what to install."""


class CardCommandError(CardError):
    """The card answered a command with an unexpected status word."""

    def __init__(self, command: str, sw: int, message: str | None = None) -> None:
        self.command = command
        self.sw = sw
        super().__init__(message or f"{command}: the card answered {sw_hex(sw)} ({describe_sw(sw)})")


# --------------------------------------------------------------------------------------------
# the seam
# --------------------------------------------------------------------------------------------


class ApduTransport(Protocol):
    """A connected card: one command APDU in, the response (data + SW1 SW2) out."""

    def transmit(self, apdu: bytes) -> bytes:
        """Send ``apdu``; return the response data followed by the two status bytes.

        Raises :class:`CardRemoved` when the card left the reader.
        """
        ...


class CardReader(Protocol):
    """A reader with at most one card in it."""

    def card_present(self) -> bool:
        """Whether a card sits in the reader now."""
        ...

    def connect(self) -> ApduTransport:
        """Power the card up and hold it exclusively; :class:`NoCard` when there is none."""
        ...

    def release(self) -> None:
        """Power the card down (a verified PIN stops counting) and eject it if the reader can."""
        ...


# --------------------------------------------------------------------------------------------
# command APDUs
# --------------------------------------------------------------------------------------------

MAX_SHORT_LC = 255
MAX_SHORT_LE = 256  # encoded as 00


@dataclass(frozen=True)
class CommandApdu:
    """A parsed short command APDU; ``le`` is None when the command expects no data (cases 1, 3)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None


def build_command(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    """Encode a short command APDU (``le=256`` is written as ``00``)."""
    for name, value in (("CLA", cla), ("INS", ins), ("P1", p1), ("P2", p2)):
        if not 0 <= value <= 0xFF:
            raise ValueError(f"{name} must be one byte (0..255), got {value}")
    if len(data) > MAX_SHORT_LC:
        raise ValueError(f"command data is {len(data)} bytes; a short APDU carries at most {MAX_SHORT_LC}")
    if le is not None and not 1 <= le <= MAX_SHORT_LE:
        raise ValueError(f"Le must be 1..{MAX_SHORT_LE}, got {le}")
    apdu = bytes((cla, ins, p1, p2))
    if data:
        apdu += bytes((len(data),)) + data
    if le is not None:
        apdu += bytes((le % 256,))
    return apdu


def parse_command(apdu: bytes) -> CommandApdu | None:
    """Decode a short command APDU, or None when its length bytes do not add up.

    Extended-length APDUs (Lc = 00 followed by two bytes) are not used here and parse as None.
    """
    if len(apdu) < 4:
        return None
    cla, ins, p1, p2 = apdu[:4]
    if len(apdu) == 4:
        return CommandApdu(cla, ins, p1, p2)
    if len(apdu) == 5:
        return CommandApdu(cla, ins, p1, p2, le=apdu[4] or MAX_SHORT_LE)
    lc = apdu[4]
    if lc == 0:
        return None
    if len(apdu) == 5 + lc:
        return CommandApdu(cla, ins, p1, p2, data=apdu[5:])
    if len(apdu) == 6 + lc:
        return CommandApdu(cla, ins, p1, p2, data=apdu[5:-1], le=apdu[-1] or MAX_SHORT_LE)
    return None


# --------------------------------------------------------------------------------------------
# status words
# --------------------------------------------------------------------------------------------

SW_OK = 0x9000
SW_END_OF_FILE = 0x6282  # fewer bytes than asked: the file ends first
SW_WRONG_LENGTH = 0x6700
SW_FILE_INCOMPATIBLE = 0x6981
SW_SECURITY_NOT_SATISFIED = 0x6982
SW_AUTH_METHOD_BLOCKED = 0x6983
SW_REFERENCE_DATA_UNUSABLE = 0x6984
SW_NO_CURRENT_EF = 0x6986
SW_WRONG_DATA = 0x6A80
SW_FUNCTION_NOT_SUPPORTED = 0x6A81
SW_FILE_NOT_FOUND = 0x6A82
SW_INCORRECT_P1P2 = 0x6A86
SW_WRONG_P1P2 = 0x6B00  # e.g. a READ BINARY offset beyond the end of the file
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00

BLOCKED_SWS = frozenset({SW_AUTH_METHOD_BLOCKED, SW_REFERENCE_DATA_UNUSABLE})

_SW_TEXT = {
    SW_OK: "success",
    SW_END_OF_FILE: "end of file reached before Le bytes",
    SW_WRONG_LENGTH: "wrong length",
    SW_FILE_INCOMPATIBLE: "command incompatible with the file structure",
    SW_SECURITY_NOT_SATISFIED: "security status not satisfied (PIN not verified)",
    SW_AUTH_METHOD_BLOCKED: "authentication method blocked",
    SW_REFERENCE_DATA_UNUSABLE: "reference data not usable (blocked)",
    SW_NO_CURRENT_EF: "command not allowed (no current file)",
    SW_WRONG_DATA: "incorrect data",
    SW_FUNCTION_NOT_SUPPORTED: "function not supported",
    SW_FILE_NOT_FOUND: "file or application not found",
    SW_INCORRECT_P1P2: "incorrect P1 P2",
    SW_WRONG_P1P2: "wrong parameters P1 P2 (offset outside the file)",
    SW_INS_NOT_SUPPORTED: "instruction not supported",
    SW_CLA_NOT_SUPPORTED: "class not supported",
}


def split_response(response: bytes) -> tuple[bytes, int]:
    """``(data, sw)`` of a response APDU; :class:`CardError` when it has no status word."""
    if len(response) < 2:
        raise CardError(f"the card's response has no status word ({len(response)} bytes: {hex_bytes(response)})")
    return response[:-2], (response[-2] << 8) | response[-1]


def sw_hex(sw: int) -> str:
    """A status word as the standards write it: ``0x6982`` -> ``"69 82"``."""
    return f"{sw >> 8:02X} {sw & 0xFF:02X}"


def describe_sw(sw: int) -> str:
    """What a status word means, for messages and the trace."""
    if sw in _SW_TEXT:
        return _SW_TEXT[sw]
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        return f"verification failed, {sw2 & 0x0F} tries left"
    if sw1 == 0x61:
        return f"{sw2 or 256} more response bytes (GET RESPONSE)"
    if sw1 == 0x6C:
        return f"wrong Le, the card has {sw2 or 256} bytes"
    return "unknown status"


def tries_left_in(sw: int) -> int | None:
    """The retry counter of a ``63 Cx`` status word, else None."""
    if sw >> 8 == 0x63 and sw & 0xF0 == 0xC0:
        return sw & 0x0F
    return None


def hex_bytes(data: bytes) -> str:
    """Bytes as spaced uppercase hex (``"00 A4 04 0C"``), the form of every APDU in logs and docs."""
    return data.hex(" ").upper()


# --------------------------------------------------------------------------------------------
# trace
# --------------------------------------------------------------------------------------------

# Commands whose data is a secret: VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER (the PIN,
# old and new PINs, an unblocking code). Matched on INS whatever the CLA, to err on the safe side.
SECRET_INS = frozenset({0x20, 0x21, 0x24, 0x2C})


def redacted_command(apdu: bytes) -> str:
    """The command as hex, with the data of a PIN-carrying command replaced by its length."""
    if len(apdu) > 5 and apdu[1] in SECRET_INS:
        return f"{hex_bytes(apdu[:5])} <{len(apdu) - 5} bytes withheld>"
    return hex_bytes(apdu)


@dataclass(frozen=True)
class TraceEntry:
    """One exchange as the trace keeps it: redacted command, response (hex), or the error."""

    command: str
    response: str


class ApduTrace:
    """An :class:`ApduTransport` wrapper that records and logs each exchange (DEBUG level).

    For a technician chasing a reader problem. The data of VERIFY and the other PIN-carrying
    commands never reaches the entries or the log; response data is cut to ``max_data`` bytes
    (a certificate would otherwise fill the log), with its length kept.
    """

    def __init__(
        self,
        transport: ApduTransport,
        *,
        logger: logging.Logger | None = None,
        max_entries: int = 200,
        max_data: int = 32,
    ) -> None:
        if max_entries < 1 or max_data < 0:
            raise ValueError(f"max_entries must be >= 1 and max_data >= 0 (got {max_entries}, {max_data})")
        self._transport = transport
        self._log = logger or log
        self._max_entries = max_entries
        self._max_data = max_data
        self.entries: list[TraceEntry] = []

    def transmit(self, apdu: bytes) -> bytes:
        """Pass ``apdu`` on; record and log the exchange."""
        command = redacted_command(apdu)
        try:
            response = self._transport.transmit(apdu)
        except CardError as err:
            self._record(command, f"error: {type(err).__name__}: {err}")
            raise
        self._record(command, self._response_text(response))
        return response

    def _response_text(self, response: bytes) -> str:
        if len(response) < 2:
            return f"malformed ({hex_bytes(response)})"
        data, sw = response[:-2], (response[-2] << 8) | response[-1]
        if not data:
            return f"{sw_hex(sw)} ({describe_sw(sw)})"
        shown = hex_bytes(data[: self._max_data]) + (" …" if len(data) > self._max_data else "")
        return f"[{len(data)} bytes] {shown} {sw_hex(sw)}"

    def _record(self, command: str, response: str) -> None:
        self.entries.append(TraceEntry(command, response))
        del self.entries[: -self._max_entries]
        self._log.debug("APDU > %s", command)
        self._log.debug("APDU < %s", response)

    def dump(self) -> str:
        """The recorded exchanges, one ``>``/``<`` pair of lines each."""
        return "\n".join(f"> {e.command}\n< {e.response}" for e in self.entries)
