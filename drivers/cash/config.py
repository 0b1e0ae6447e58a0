"""The cash devices' configuration, the kiosk's ``[cash]`` table, as a frozen typed model.

Every key, its limits and its default are in :class:`CashConfig` and :class:`HopperConfig`;
:func:`parse` converts a parsed table with msgspec through :mod:`common.validation`, so an
error names the key path and what to write instead (``hoppers[1].address: expected a ccTalk
address (2..255), got 1``). What one value cannot say alone is checked after conversion: a
ccTalk bus needs its port, no two hoppers pay the same coin, no two devices share an address.

``coin_acceptor`` and ``bill_validator`` may be written as a table (``{address = 40}``, as
provisioning writes them) or as the address alone; the model holds the address.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from common.validation import Invalid, PathPart, convert, describe, format_path, info
from drivers.cash.box import ACCEPTED_COINS, ACCEPTED_NOTES, Coin, Note
from drivers.cash.errors import CashConfigError

PORT_HELP = 'give the ccTalk adapter\'s path, e.g. "/dev/serial/by-id/usb-…"'

HostAddress = Annotated[int, info(ge=1, le=255, what="a ccTalk address (1..255)")]
# 1 is the host's (the kiosk's) own address: a device must not answer to it.
DeviceAddress = Annotated[int, info(ge=2, le=255, what="a ccTalk address (2..255)")]
Seconds10 = Annotated[float, info(gt=0, le=10, what="a number of seconds above 0 and at most 10")]
Seconds600 = Annotated[float, info(gt=0, le=600, what="a number of seconds above 0 and at most 600")]
Seconds5 = Annotated[float, info(gt=0, le=5, what="a number of seconds above 0 and at most 5")]
HopperCoin = Annotated[Coin, info(what="a yen coin the kiosk handles: 10, 50, 100 or 500")]
AcceptedCoin = Annotated[Coin, info(what="a coin the kiosk takes: 10, 50, 100 or 500")]
AcceptedNote = Annotated[Note, info(what="a note the kiosk takes: 1000, 5000 or 10000 (2000-yen notes are refused)")]


class HopperConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One hopper: its ccTalk address, the coin it pays and how many coins it holds now."""

    address: Annotated[
        DeviceAddress, info(help="each hopper needs its ccTalk address and coin value, e.g. {address = 3, coin = 500}")
    ]
    coin: Annotated[
        HopperCoin, info(help="each hopper needs its ccTalk address and coin value, e.g. {address = 3, coin = 500}")
    ]
    # A hopper cannot count its coins: staff count them when they fill it and write it here.
    count: Annotated[int, info(ge=0, le=100_000, what="the number of coins in the hopper (0..100000)")] = 0


DEFAULT_HOPPERS = (
    HopperConfig(address=3, coin=500),
    HopperConfig(address=4, coin=100),
    HopperConfig(address=5, coin=10),
)


class CashConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The cash devices of one kiosk. Build it with :meth:`from_mapping` from the kiosk's config."""

    backend: Annotated[
        Literal["cctalk", "fake"],
        info(what='a cash backend: "cctalk" (the devices on a ccTalk bus) or "fake" (in memory, for demos)'),
    ] = "cctalk"
    port: Annotated[str, info(min_length=1, what='the serial port path, e.g. "/dev/serial/by-id/usb-…"')] | None = None
    host_address: HostAddress = 1
    echo: bool = True  # false for an adapter that hides the single wire's echo
    coin_acceptor: DeviceAddress = 2
    bill_validator: DeviceAddress = 40
    hoppers: Annotated[
        tuple[HopperConfig, ...], info(min_length=1, what="a list of hoppers, each {address, coin, count}")
    ] = DEFAULT_HOPPERS
    coins: Annotated[tuple[AcceptedCoin, ...], info(min_length=1)] = ACCEPTED_COINS
    notes: Annotated[tuple[AcceptedNote, ...], info(min_length=1)] = ACCEPTED_NOTES
    country: Annotated[str, info(pattern=r"^[A-Za-z]{2}$", what='a 2-letter ccTalk country code such as "JP"')] = "JP"
    protected_hoppers: bool = True
    reply_timeout_s: Seconds10 = 0.2
    retries: Annotated[int, info(ge=0, le=10, what="a number of retries (0..10)")] = 2
    payout_timeout_s: Seconds600 = 30.0
    payout_poll_s: Seconds5 = 0.05

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any], where: str = "cash") -> CashConfig:
        """Validate a parsed config section; :class:`CashConfigError` names the first bad key
        (under ``where``, the section's own path) and the fix."""
        try:
            return parse(doc, where)
        except Invalid as err:
            raise CashConfigError(str(err.within(where) if where else err)) from err


KNOWN_KEYS = frozenset(f.encode_name for f in msgspec.structs.fields(CashConfig))


def parse(doc: Mapping[str, Any], where: str = "cash") -> CashConfig:
    """A parsed ``[cash]`` table as a :class:`CashConfig`.

    :class:`~common.validation.Invalid` names the first bad key relative to the table;
    ``where`` (the table's own path) only serves messages that name a second key.
    """
    if not isinstance(doc, Mapping):
        raise Invalid((), f"expected a table of cash settings, got {describe(doc)}")
    config = convert(_addresses_alone(doc), CashConfig)
    check(config, where)
    # The devices' tables are read once per coin or note: duplicates would be harmless but noisy.
    return msgspec.structs.replace(
        config, coins=tuple(sorted(set(config.coins))), notes=tuple(sorted(set(config.notes)))
    )


class _DeviceTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An acceptor's table, ``{address = 40}``; an empty one keeps the default address."""

    address: DeviceAddress | msgspec.UnsetType = msgspec.UNSET


def _addresses_alone(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` with each acceptor's table replaced by its address, checked (errors name the
    ``….address`` key, also when the address was written alone)."""
    out = dict(doc)
    for key in ("coin_acceptor", "bill_validator"):
        if key not in out:
            continue
        raw = out[key]
        try:
            table = convert(raw if isinstance(raw, Mapping) else {"address": raw}, _DeviceTable)
        except Invalid as err:
            raise err.within(key) from err
        if isinstance(table.address, int):
            out[key] = table.address
        else:
            del out[key]  # {} : the default address
    return out


def check(config: CashConfig, where: str = "cash") -> None:
    """The rules across values; :class:`~common.validation.Invalid` names the key and the fix."""
    if config.backend == "cctalk" and config.port is None:
        raise Invalid(("port",), f"missing; {PORT_HELP}")
    coins: set[int] = set()
    for i, hopper in enumerate(config.hoppers):
        if hopper.coin in coins:
            raise Invalid(
                ("hoppers", i, "coin"), f"two hoppers pay {hopper.coin} yen coins; give each hopper its own coin"
            )
        coins.add(hopper.coin)
    keys: list[tuple[int, tuple[PathPart, ...]]] = [
        (config.host_address, ("host_address",)),
        (config.coin_acceptor, ("coin_acceptor", "address")),
        (config.bill_validator, ("bill_validator", "address")),
        *[(h.address, ("hoppers", i, "address")) for i, h in enumerate(config.hoppers)],
    ]
    used: dict[int, tuple[PathPart, ...]] = {}
    for address, path in keys:
        if address in used:
            other = format_path((where, *used[address]) if where else used[address])
            raise Invalid(path, f"address {address} is already used by {other}; every device needs its own")
        used[address] = path
