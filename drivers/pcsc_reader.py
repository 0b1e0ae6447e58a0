"""A real card reader through PC/SC (pcscd) with pyscard: the hardware :class:`CardReader`.

pyscard is optional (``pip install madoguchi[pcsc]``; it builds from source against
libpcsclite, see ``docs/card-reader.md``) and imported only when a reader is made, so the rest
of the project runs without it. A missing pyscard raises :class:`ReaderBackendMissing` naming
the install command; it is never replaced by the simulator.

The card is held with ``SCARD_SHARE_EXCLUSIVE`` (no other program can talk to it, or reset it,
during a resident's session) and disconnected with ``SCARD_UNPOWER_CARD`` (or
``SCARD_EJECT_CARD`` on a reader that can), because a verified PIN lasts until power-off.
PC/SC result codes become this package's exceptions at this boundary.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

from drivers.card_reader import CardError, CardRemoved, NoCard, ReaderBackendMissing, ReaderUnavailable

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "pyscard is not installed: pip install madoguchi[pcsc] "
    "(it builds against libpcsclite: apt install pcscd libpcsclite-dev swig)"
)


def load_scard() -> Any:
    """pyscard's ``smartcard.scard`` module, or :class:`ReaderBackendMissing` naming the install."""
    try:
        return importlib.import_module("smartcard.scard")
    except ImportError as err:
        raise ReaderBackendMissing(INSTALL_HINT) from err


class _PcscTransport:
    """A connection to the card: ``SCardTransmit`` with the negotiated protocol's PCI."""

    def __init__(self, reader: PcscCardReader, hcard: Any, pci: Any) -> None:
        self._reader = reader
        self.hcard = hcard
        self._pci = pci

    def transmit(self, apdu: bytes) -> bytes:
        """Send ``apdu``; return data + SW1 SW2; :class:`CardRemoved` when the card left."""
        return self._reader._transmit(self, apdu)


class PcscCardReader:
    """A PC/SC reader picked by (part of) its name, or the first one when ``reader`` is None or "".

    ``eject=True`` disconnects with ``SCARD_EJECT_CARD`` on a motorised reader; others power
    the card down. Thread-safe; call :meth:`close` when the kiosk shuts down.
    """

    def __init__(self, reader: str | None = None, *, eject: bool = False, scard: Any | None = None) -> None:
        self._scard = scard if scard is not None else load_scard()
        self._wanted = reader
        self._eject = eject
        self._lock = threading.Lock()
        self._context: Any = None
        self._transport: _PcscTransport | None = None

    # -- PC/SC plumbing ----------------------------------------------------------------------

    def _code(self, name: str) -> int | None:
        value = getattr(self._scard, name, None)
        return int(value) if value is not None else None

    def _message(self, hresult: int) -> str:
        return f"{self._scard.SCardGetErrorMessage(hresult)} ({hresult & 0xFFFFFFFF:#010x})"

    def _is(self, hresult: int, *names: str) -> bool:
        return any(self._code(n) == hresult for n in names)

    def _reader_unavailable(self, hresult: int) -> ReaderUnavailable:
        if self._is(hresult, "SCARD_E_NO_SERVICE", "SCARD_E_SERVICE_STOPPED"):
            return ReaderUnavailable("pcscd is not running (sudo systemctl enable --now pcscd.socket)")
        if self._is(hresult, "SCARD_E_NO_READERS_AVAILABLE", "SCARD_E_UNKNOWN_READER", "SCARD_E_READER_UNAVAILABLE"):
            return ReaderUnavailable("the card reader is not connected (check its USB cable; pcsc_scan lists readers)")
        if self._is(hresult, "SCARD_E_SHARING_VIOLATION"):
            return ReaderUnavailable("another program holds the card reader (stop it; pcsc_scan, a browser plug-in?)")
        return ReaderUnavailable(f"the card reader failed: {self._message(hresult)}")

    def _ensure_context(self) -> Any:
        if self._context is None:
            hresult, context = self._scard.SCardEstablishContext(self._scard.SCARD_SCOPE_USER)
            if hresult != self._scard.SCARD_S_SUCCESS:
                raise self._reader_unavailable(hresult)
            self._context = context
        return self._context

    def _drop_context(self) -> None:
        if self._context is not None:
            self._scard.SCardReleaseContext(self._context)
            self._context = None

    def readers(self) -> list[str]:
        """The PC/SC readers pcscd knows (empty when none is plugged in)."""
        with self._lock:
            return self._readers()

    def _readers(self) -> list[str]:
        context = self._ensure_context()
        hresult, readers = self._scard.SCardListReaders(context, [])
        if self._is(hresult, "SCARD_E_NO_READERS_AVAILABLE"):
            return []
        if hresult != self._scard.SCARD_S_SUCCESS:
            # pcscd restarted under us: the context is stale, make a new one next time.
            self._drop_context()
            raise self._reader_unavailable(hresult)
        return [str(r) for r in readers]

    def _reader_name(self) -> str:
        readers = self._readers()
        if not self._wanted:  # None or "" (the hardware profile's default): the first reader
            if not readers:
                raise ReaderUnavailable("no card reader is connected (check its USB cable; pcsc_scan lists readers)")
            return readers[0]
        for name in readers:
            if self._wanted in name:
                return name
        found = ", ".join(repr(r) for r in readers) or "none"
        raise ReaderUnavailable(f"no card reader named like {self._wanted!r}; connected readers: {found}")

    # -- CardReader --------------------------------------------------------------------------

    def card_present(self) -> bool:
        """Whether a card sits in the reader (asks pcscd without touching the card)."""
        with self._lock:
            name = self._reader_name()
            hresult, states = self._scard.SCardGetStatusChange(
                self._ensure_context(), 0, [(name, self._scard.SCARD_STATE_UNAWARE)]
            )
            if hresult != self._scard.SCARD_S_SUCCESS:
                raise self._reader_unavailable(hresult)
            return any(int(state[1]) & int(self._scard.SCARD_STATE_PRESENT) for state in states)

    def connect(self) -> _PcscTransport:
        """Power the card up and hold it exclusively (T=1 or T=0, whichever the card speaks)."""
        with self._lock:
            if self._transport is not None:
                raise CardError("the card is already connected; release() it first")
            scard = self._scard
            name = self._reader_name()
            hresult, hcard, protocol = scard.SCardConnect(
                self._ensure_context(),
                name,
                scard.SCARD_SHARE_EXCLUSIVE,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
            if self._is(hresult, "SCARD_E_NO_SMARTCARD", "SCARD_W_REMOVED_CARD"):
                raise NoCard("there is no card in the reader")
            if self._is(hresult, "SCARD_W_UNRESPONSIVE_CARD", "SCARD_W_UNPOWERED_CARD"):
                raise CardError("the card does not answer: is it inserted chip first and face up?")
            if hresult != scard.SCARD_S_SUCCESS:
                raise self._reader_unavailable(hresult)
            pci = scard.SCARD_PCI_T1 if protocol == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0
            self._transport = _PcscTransport(self, hcard, pci)
            log.info("card connected in %s (T=%d)", name, 1 if protocol == scard.SCARD_PROTOCOL_T1 else 0)
            return self._transport

    def release(self) -> None:
        """Disconnect, powering the card down (ejecting it if configured); harmless when not connected."""
        with self._lock:
            transport, self._transport = self._transport, None
            if transport is None:
                return
            disposition = self._scard.SCARD_EJECT_CARD if self._eject else self._scard.SCARD_UNPOWER_CARD
            hresult = self._scard.SCardDisconnect(transport.hcard, disposition)
            if hresult != self._scard.SCARD_S_SUCCESS and not self._is(
                hresult, "SCARD_W_REMOVED_CARD", "SCARD_E_NO_SMARTCARD", "SCARD_E_INVALID_HANDLE"
            ):
                # The handle is gone either way; a card pulled before release is no error.
                log.warning("disconnecting the card: %s", self._message(hresult))

    def close(self) -> None:
        """Release the card and the PC/SC context."""
        self.release()
        with self._lock:
            self._drop_context()

    def _transmit(self, transport: _PcscTransport, apdu: bytes) -> bytes:
        with self._lock:
            if transport is not self._transport:
                raise CardError("this card connection was released; connect() again")
            hresult, response = self._scard.SCardTransmit(transport.hcard, transport._pci, list(apdu))
            if hresult == self._scard.SCARD_S_SUCCESS:
                return bytes(response)
            if self._is(hresult, "SCARD_W_REMOVED_CARD", "SCARD_E_NO_SMARTCARD", "SCARD_W_RESET_CARD"):
                # A reset by anyone ends the PIN's validity like a removal; the session cannot go on.
                self._transport = None
                self._scard.SCardDisconnect(transport.hcard, self._scard.SCARD_LEAVE_CARD)
                raise CardRemoved(f"the card was removed from the reader ({self._message(hresult)})")
            raise CardError(f"sending a command to the card failed: {self._message(hresult)}")
