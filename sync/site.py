"""The office's site configuration (``office/default_site.toml`` and the towns' own files) as a
frozen, typed model.

The file's shape is the model's: ``[[stations]]``, ``[[categories]]`` (purposes),
``[[counters]]``, ``[dispenser]`` and ``[kiosk]``. :func:`parse` converts a parsed TOML
document (msgspec, through :mod:`common.validation`) and then checks what one value cannot
say alone - unique codes, routes through existing stations, series ranges that do not overlap,
counters serving purposes that exist - so every error names the key path and the fix
(``categories[2].route[1]: 'reveiw' is not a station; known stations: …``).

The office reads the site from here; the devices get what they need of it in the
``office/config`` message (:class:`sync.messages.OfficeConfig`), built by :meth:`SiteConfig.message`.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from common.i18n import LANGUAGES
from common.validation import Invalid, PathPart, convert, info
from sync import messages, protocol, signing

Text200 = Annotated[str, info(max_length=200)]
MaxNumber = 9_999_999  # ticket numbers the office accepts
Code = Annotated[
    str,
    info(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$",
        what="a code of 1-32 letters, digits, '.', '_' or '-'",
    ),
]
# The languages a procedure may be named in besides Japanese: the lobby's.
PROCEDURE_LANGUAGES = frozenset(LANGUAGES) - {"ja"}
Names = Annotated[
    dict[str, Text200],
    info(what='a table of names with at least ja = "..." (e.g. { ja = "受付", en = "Reception" })'),
]
SeriesNumber = Annotated[int, info(ge=0, le=MaxNumber)]


class _Table(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A table of the site file: unknown keys are mistakes, named with the keys allowed."""

    noun: ClassVar[str] = "table"  # what messages call it (TOML's word)


class Station(_Table, frozen=True, kw_only=True):
    """A step of the back office's work (受付, 入力, 審査, 交付, 完了)."""

    code: Annotated[Code, info(help='a station code such as "review"')]
    name: Names

    @property
    def names(self) -> Mapping[str, str]:
        """The station's name per language."""
        return self.name


class Category(_Table, frozen=True, kw_only=True):
    """A resident's purpose, as offered on the dispenser; several may share one series."""

    code: Annotated[Code, info(help='a purpose code such as "moving"')]
    series: Annotated[Code, info(help='a series name such as "1"')]
    first: Annotated[SeriesNumber, info(help="the first ticket number of the series (a whole number)")]
    last: Annotated[SeriesNumber, info(help="the last ticket number of the series (a whole number)")]
    name: Names
    route: Annotated[
        tuple[str, ...],
        info(
            min_length=2,
            what="a list of station codes",
            help='a first and a terminal station at least, e.g. ["reception", "issuing", "done"]',
        ),
    ]
    share: Annotated[float, info(ge=0, le=1, what="a fraction from 0 to 1")] = 0.0
    procedures: Annotated[tuple[Text200, ...], info(what="a list of procedure names")] = ()
    daily_cap: Annotated[int, info(ge=1)] | None = None  # tickets a day; None = the series' range

    @property
    def names(self) -> Mapping[str, str]:
        """The purpose's name per language."""
        return self.name


CounterKind = Literal["high", "low", "consultation"]


class Counter(_Table, frozen=True, kw_only=True):
    """A service counter (窓口); an empty ``categories`` serves every purpose.

    ``kind`` is Kasuya's: a high counter (ハイカウンター) for quick business standing, a low
    counter (ローカウンター) for seated, private matters, a consultation room (相談室). ``name`` is
    what the board, the resident's page and the console call it (e.g. "2番窓口", "Counter 2").
    """

    number: Annotated[
        int, info(ge=0, le=999, what="a counter number from 0 to 999", help="the counter number shown to residents")
    ]
    categories: Annotated[frozenset[str], info(what="a list of purpose codes (empty = all)")] = frozenset()
    name: Names = {}
    kind: Annotated[
        CounterKind, info(what='"high" (a high counter), "low" (a low counter) or "consultation" (a room)')
    ] = "high"

    def serves(self, category: str) -> bool:
        """Whether this counter calls tickets of ``category``."""
        return not self.categories or category in self.categories

    def names(self) -> dict[str, str]:
        """The counter's name per language; "N番窓口" / "Counter N" when the site gives none."""
        return dict(self.name) or {"ja": f"{self.number}番窓口", "en": f"Counter {self.number}"}


HhMm = Annotated[str, info(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", what='a time like "08:30"')]
# "24:00" closes at the end of the day: a lobby (or the demo's kiosk) open round the clock.
Closing = Annotated[str, info(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$", what='a time like "17:15" (or "24:00")')]
Weekdays = Annotated[
    frozenset[Annotated[int, info(ge=0, le=6)]], info(what="weekday numbers 0-6 (0 = Monday), e.g. [5, 6]")
]
MonthDays = Annotated[
    frozenset[Annotated[str, info(pattern=r"^\d\d-\d\d$")]],
    info(what='month-day strings closed every year, e.g. ["12-29", "01-03"]'),
]
Holidays = Annotated[
    frozenset[Annotated[str, info(pattern=r"^\d{4}-\d\d-\d\d$")]], info(what='a list of dates, e.g. ["2026-11-23"]')
]
NEW_YEAR = frozenset({"12-29", "12-30", "12-31", "01-01", "01-02", "01-03"})


class Dispenser(_Table, frozen=True, kw_only=True):
    """``[dispenser]``: the lobby's opening hours and closures, and the page the QR code opens."""

    open: HhMm = "08:30"
    close: Closing = "17:15"
    closed_weekdays: Weekdays = frozenset()
    closed_dates: MonthDays = frozenset()
    holidays: Holidays = frozenset()
    # The resident's page (madoguchi-public): {token} is the ticket's unguessable token.
    progress_url: Annotated[
        str,
        info(
            max_length=200,
            pattern=r"\{token\}",
            what='a URL containing {token}, e.g. "https://example.jp/t/{token}"',
        ),
    ] = "http://madoguchi.local/t/{token}"

    def hours(self) -> messages.Hours:
        """The hours as they travel to the devices."""
        return _hours(self.open, self.close, self.closed_weekdays, self.closed_dates, self.holidays)


class Kiosk(_Table, frozen=True, kw_only=True):
    """``[kiosk]``: the certificate kiosk's hours (06:30-23:00, closed 29 Dec - 3 Jan by
    default), fees per copy by certificate code, the mayor's line, the trusted JPKI CA and
    where the resident registry comes from."""

    open: HhMm = "06:30"
    close: Closing = "23:00"
    closed_weekdays: Weekdays = frozenset()
    closed_dates: MonthDays = NEW_YEAR
    holidays: Holidays = frozenset()
    # {code: yen per copy}; the certificates package owns the rules (office/config.py checks them)
    fees: dict[str, Any] | None = None
    mayor_line: Annotated[
        str, info(min_length=1, max_length=60, what='the issuing mayor\'s line, e.g. "まどぐち町長　佐々木　和夫"')
    ] = "まどぐち町長　佐々木　和夫"
    jpki_ca: Annotated[str, info(what="the path of the JPKI CA certificate file (PEM)")] = ""  # "": no kiosk service
    # "demo" seeds an empty office store with the demo town's residents; "store" uses only
    # what was loaded (docs/registry.md).
    registry: Annotated[
        Literal["demo", "store"],
        info(
            what='"demo" (seed the demo town\'s residents) or "store" (only the registry loaded into the office store)'
        ),
    ] = "demo"
    # The office's short code before every certificate's issue number ("chuo-20261206-00001"),
    # unique in the ward; "" = the site id, which must then be 12 characters at most (check()).
    site_code: Annotated[
        str,
        info(
            pattern=r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,11})?$",
            what="1-12 letters, digits, '.', '_' or '-' (or \"\" for the site id)",
            help='the short code printed in issue numbers, e.g. "chuo"',
        ),
    ] = ""

    def hours(self) -> messages.Hours:
        """The hours as they travel to the devices."""
        return _hours(self.open, self.close, self.closed_weekdays, self.closed_dates, self.holidays)


def _hours(
    open_: str, close: str, weekdays: frozenset[int], dates: frozenset[str], holidays: frozenset[str]
) -> messages.Hours:
    return messages.Hours(
        open=open_,
        close=close,
        closed_weekdays=tuple(sorted(weekdays)),
        closed_dates=tuple(sorted(dates)),
        holidays=tuple(sorted(holidays)),
    )


class Console(_Table, frozen=True, kw_only=True):
    """``[console]``: where the staff console listens on the office LAN, and its sessions."""

    host: Annotated[str, info(max_length=200, what='an address to listen on, e.g. "0.0.0.0" or "127.0.0.1"')] = (
        "127.0.0.1"
    )
    port: Annotated[int, info(ge=1, le=65535)] = 8080
    session_hours: Annotated[int, info(ge=1, le=24)] = 10  # a working day; signing in again after it
    lockout_failures: Annotated[int, info(ge=1, le=100)] = 5  # wrong passwords in a row that lock
    lockout_minutes: Annotated[int, info(ge=1, le=24 * 60)] = 15
    # The concierge desk's own ESC/POS printer: a [printer] table as a dispenser's device
    # configuration has it (model, backend and the backend's table), checked by the office at
    # start. Empty: the desk shows the number and the clerk writes it down.
    desk_printer: dict[str, Any] = {}
    # The station whose cases the input centre's screen lists (Setagaya's 集中入力センター).
    input_station: Annotated[str, info(min_length=1, max_length=32)] = "input"


class Public(_Table, frozen=True, kw_only=True):
    """``[public]``: the resident's page process the office feeds (none when ``url`` is empty)."""

    url: Annotated[str, info(max_length=300, what='the page process\'s address, e.g. "https://public.example.jp"')] = ""
    secret_file: Annotated[str, info(max_length=500, what="the file holding the feed's shared secret")] = ""


class Congestion(_Table, frozen=True, kw_only=True):
    """``[congestion]``: the expected wait at which a purpose turns yellow and red (Tosu's lamp:
    green up to 20 minutes, yellow to 40, red beyond), and the wait the floor aims for."""

    yellow_minutes: Annotated[int, info(ge=1, le=24 * 60)] = 20
    red_minutes: Annotated[int, info(ge=1, le=24 * 60)] = 40
    target_wait_minutes: Annotated[int, info(ge=1, le=24 * 60)] = 30
    # The share of residents called within that wait the floor aims for (the statistics' service
    # level, and what the staffing forecast plans counters for).
    target_share: Annotated[float, info(ge=0.05, le=0.999, what="a fraction such as 0.8")] = 0.8

    def level(self, wait_min: int | None) -> Literal["green", "yellow", "red"]:
        """The lamp for an expected wait (green when there is no estimate: nobody waits long)."""
        if wait_min is None or wait_min < self.yellow_minutes:
            return "green"
        return "yellow" if wait_min < self.red_minutes else "red"


class Retention(_Table, frozen=True, kw_only=True):
    """``[retention]``: how long what piles up is kept, so a lobby runs for years unattended.

    The tickets themselves and their stamps at each station are kept: the statistics are made
    from them. What is pruned is what only served to get them there."""

    # Days a lobby device keeps its own ticket logs (reprints, its count while offline and the
    # technician's look at a recent day need the last few; the office has them all).
    device_days: Annotated[int, info(ge=2, le=3660)] = messages.DEVICE_KEEP_DAYS
    # Days the office keeps the devices' raw events once applied and acknowledged, the calls,
    # the number leases and the replies it keeps to answer a repeated staff command alike.
    event_days: Annotated[int, info(ge=7, le=3660)] = 90
    # Days the ticket log keeps the name of the staff user who acted: the figures (how long, at
    # which counter) are kept for years; who did it is personal and goes after this (0: gone once
    # its day is over). About a year and a month: last year's same month can still be looked into.
    staff_days: Annotated[int, info(ge=0, le=3660)] = 400


class Ward(_Table, frozen=True, kw_only=True):
    """``[ward]``: this office is a branch of a ward (docs/ward.md): its broker is bridged to the
    centre's, and with ``send_log`` its ticket log goes up for the ward's figures."""

    send_log: bool = False
    # The central office: its console serves the ward's floor and statistics (docs/ward.md)
    # from the ward's PostgreSQL, which the central consumer writes.
    centre: bool = False
    dsn: Annotated[str, info(max_length=500, what='a PostgreSQL address such as "postgresql://ward@db/ward"')] = ""
    # A branch sharing its input station with the ward's central input centre: the centre's
    # operators see its input cases and claim, release and finish them with actions signed by
    # the centre office's key, which ``centre_key`` pins (madoguchi-office security office-key prints it).
    share_input: bool = False
    centre_key: Annotated[str, info(max_length=100, what='the centre office\'s key, "ed25519:..."')] = ""
    # The centre: its input desk reaches the branches through the central Mosquitto at
    # ``broker``, and believes a branch's cases and answers only under that branch's office key.
    broker: Annotated[str, info(max_length=300, what='a broker address such as "mqtt://centre:1883"')] = ""
    branch_keys: Annotated[dict[str, Annotated[str, info(max_length=100)]], info(max_length=100)] = {}


DeviceRole = Literal["dispenser", "board", "kiosk"]


class DeviceRule(_Table, frozen=True, kw_only=True):
    """Which lobby devices an office without enrolment knows, and as what: ``match`` is a device
    id or a pattern of them ("disp-*"). An enrolled device's role comes from its enrolment."""

    match: Annotated[
        str,
        info(
            pattern=r"^[A-Za-z0-9_.*?\[\]-]{1,63}$",
            what='a device id or a pattern such as "disp-*"',
            help='a device id, or a pattern with * and ? such as "disp-*"',
        ),
    ]
    role: Annotated[DeviceRole, info(what='"dispenser", "board" or "kiosk"')]


class SiteConfig(_Table, frozen=True, kw_only=True):
    """One office's window, as its site file says."""

    site: Annotated[
        str,
        info(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
            what="1-63 letters, digits, '.', '_' or '-'",
            help='a site id such as "demo-town"',
        ),
    ]
    office_name: Text200 = ""
    timezone: Annotated[str, info(max_length=64, what='a time zone name such as "Asia/Tokyo"')] = "Asia/Tokyo"
    # tickets issued before this local hour belong to the previous business day
    rollover_hour: Annotated[int, info(ge=0, le=12)] = 3
    dispenser_reserve: Annotated[int, info(ge=1, le=100_000)] = 700
    reserve_floor: Annotated[int, info(ge=0, le=100_000)] = 120
    lease_block_min: Annotated[int, info(ge=1, le=10_000)] = 20
    ready_linger_minutes: Annotated[int, info(ge=0, le=24 * 60)] = 15
    default_service_seconds: Annotated[int, info(ge=1, le=24 * 3600)] = 120
    stations: Annotated[tuple[Station, ...], info(help="a list of [[stations]] tables with code and name")]
    categories: Annotated[tuple[Category, ...], info(min_length=1, help="define at least one [[categories]] purpose")]
    counters: Annotated[
        tuple[Counter, ...], info(min_length=1, help="define at least one [[counters]] table with a number")
    ]
    dispenser: Dispenser = msgspec.field(default_factory=Dispenser)
    kiosk: Kiosk = msgspec.field(default_factory=Kiosk)
    console: Console = msgspec.field(default_factory=Console)
    public: Public = msgspec.field(default_factory=Public)
    congestion: Congestion = msgspec.field(default_factory=Congestion)
    retention: Retention = msgspec.field(default_factory=Retention)
    ward: Ward = msgspec.field(default_factory=Ward)
    # Procedures are named in Japanese in each purpose's list (that is what the counter reads);
    # this gives them in the lobby's other languages for the resident's checklist and ticket:
    # [procedure_names] "住民異動届" = { en = "Notification of moving", ... }.
    procedure_names: dict[Text200, dict[str, Text200]] = {}
    # The lobby's devices by name when the office has no enrolment (the demo, a test rig); the
    # first rule that matches gives the role. A device matched by none is refused.
    devices: tuple[DeviceRule, ...] = ()

    @property
    def display_name(self) -> str:
        """The office's name, or its site id when the file gives none."""
        return self.office_name or self.site

    def find_category(self, code: str) -> Category | None:
        """The purpose with ``code``, or None."""
        return next((c for c in self.categories if c.code == code), None)

    def find_counter(self, number: int) -> Counter | None:
        """The counter with ``number``, or None."""
        return next((c for c in self.counters if c.number == number), None)

    def find_station(self, code: str) -> Station | None:
        """The station with ``code``, or None."""
        return next((s for s in self.stations if s.code == code), None)

    def series_ranges(self) -> dict[str, tuple[int, int]]:
        """Each series' inclusive number range."""
        return {cat.series: (cat.first, cat.last) for cat in self.categories}

    def series_shares(self) -> dict[str, float]:
        """Expected share of the day's tickets per series (sizes the offline reserves)."""
        shares: dict[str, float] = {}
        for cat in self.categories:
            shares[cat.series] = shares.get(cat.series, 0.0) + cat.share
        return shares

    def message(self, *, version: int, sent_ms: int, lease_days: tuple[str, ...]) -> messages.OfficeConfig:
        """What the devices get of the site: the ``office/config`` document."""
        return messages.OfficeConfig(
            version=version,
            sent_ms=sent_ms,
            office_name=self.display_name,
            timezone=self.timezone,
            rollover_hour=self.rollover_hour,
            keep_days=self.retention.device_days,
            lease_days=lease_days,
            progress_url=self.dispenser.progress_url,
            dispenser=self.dispenser.hours(),
            kiosk=self.kiosk.hours(),
            certificate_fees={str(k): int(v) for k, v in (self.kiosk.fees or {}).items()},
            stations=tuple(messages.StationInfo(code=s.code, name=dict(s.name)) for s in self.stations),
            categories=tuple(
                messages.PurposeInfo(
                    code=c.code,
                    series=c.series,
                    name=dict(c.name),
                    route=c.route,
                    procedures=c.procedures,
                    daily_cap=c.daily_cap,
                )
                for c in self.categories
            ),
            counters=tuple(messages.CounterInfo(number=c.number, name=c.names(), kind=c.kind) for c in self.counters),
            procedure_names={k: dict(v) for k, v in self.procedure_names.items()},
        )


def parse(doc: Mapping[str, Any]) -> SiteConfig:
    """A parsed site file as a :class:`SiteConfig`; :class:`Invalid` names the first bad key."""
    site = convert(doc, SiteConfig)
    check(site)
    return site


def check(site: SiteConfig) -> None:
    """The rules across values; raises :class:`Invalid` with the key path and the fix."""
    try:
        zoneinfo.ZoneInfo(site.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise Invalid(("timezone",), f'{site.timezone!r} is not a known time zone; use e.g. "Asia/Tokyo"') from err
    station_codes: set[str] = set()
    for i, station in enumerate(site.stations):
        _names(station.name, ("stations", i, "name"))
        if station.code in station_codes:
            raise Invalid(
                ("stations", i, "code"), f"station {station.code!r} is defined twice; station codes must be unique"
            )
        station_codes.add(station.code)
    seen: list[Category] = []
    for i, cat in enumerate(site.categories):
        _check_category(cat, i, seen, station_codes)
        seen.append(cat)
    category_codes = {c.code for c in site.categories}
    numbers: set[int] = set()
    for i, counter in enumerate(site.counters):
        if counter.number in numbers:
            raise Invalid(("counters", i, "number"), f"counter {counter.number} is defined twice")
        numbers.add(counter.number)
        for code in sorted(counter.categories - category_codes):
            raise Invalid(
                ("counters", i, "categories"), f"{code!r} is not a purpose; known: {', '.join(sorted(category_codes))}"
            )
    procedures = {p for c in site.categories for p in c.procedures}
    for name, names in site.procedure_names.items():
        if name not in procedures:
            known = "、".join(sorted(procedures)) or "none"
            raise Invalid(("procedure_names", name), f"no purpose lists this procedure; the procedures are: {known}")
        for language in names:
            if language not in PROCEDURE_LANGUAGES:
                raise Invalid(
                    ("procedure_names", name, language),
                    f"not a lobby language; use one of {', '.join(sorted(PROCEDURE_LANGUAGES))}",
                )
    for section, hours in (("dispenser", site.dispenser), ("kiosk", site.kiosk)):
        _check_hours(section, hours)
    if not site.kiosk.site_code and len(site.site) > 12:  # office/issuance.py MAX_SITE_CODE
        raise Invalid(
            ("kiosk", "site_code"),
            f"required: the site id {site.site!r} has {len(site.site)} characters, too many to print in"
            ' certificates\' issue numbers (at most 12); under [kiosk] set site_code = "chuo", a short code unique in the ward',
        )
    if site.congestion.red_minutes <= site.congestion.yellow_minutes:
        raise Invalid(("congestion", "red_minutes"), f"must be above yellow_minutes ({site.congestion.yellow_minutes})")
    if bool(site.public.url) != bool(site.public.secret_file):
        missing = "secret_file" if site.public.url else "url"
        raise Invalid(
            ("public", missing), "required with the other: the page's address and the feed's secret go together"
        )
    if site.ward.centre and not site.ward.dsn:
        raise Invalid(
            ("ward", "dsn"),
            "required when centre = true: the ward's PostgreSQL the consumer writes,"
            ' e.g. dsn = "postgresql://ward-office@127.0.0.1/ward"',
        )
    _check_ward_keys(site.ward)


def _check_ward_keys(ward: Ward) -> None:
    if ward.share_input and not ward.centre_key:
        raise Invalid(
            ("ward", "centre_key"),
            "required when share_input = true: the centre office's key, as `madoguchi-office security office-key` prints it there",
        )
    keys: list[tuple[tuple[PathPart, ...], str]] = (
        [(("ward", "centre_key"), ward.centre_key)] if ward.centre_key else []
    )
    for name, key in ward.branch_keys.items():
        if not protocol.valid_id(name):
            raise Invalid(("ward", "branch_keys", name), "not a site id: 1-63 letters, digits, '.', '_' or '-'")
        keys.append((("ward", "branch_keys", name), key))
    for path, key in keys:
        try:
            signing.parse_public_key(key)
        except signing.OfficeKeyError as err:
            raise Invalid(path, f"{err} (`madoguchi-office security office-key` prints it on that office)") from err
    if ward.branch_keys and not ward.broker:
        raise Invalid(
            ("ward", "broker"), 'required with branch_keys: the central Mosquitto, e.g. "mqtt://127.0.0.1:1883"'
        )


def _names(names: Mapping[str, str], path: tuple[PathPart, ...]) -> None:
    if "ja" not in names:
        raise Invalid(
            path, 'expected a table of names with at least ja = "..." (e.g. { ja = "受付", en = "Reception" })'
        )


def _check_category(cat: Category, i: int, seen: list[Category], station_codes: set[str]) -> None:
    at: tuple[PathPart, ...] = ("categories", i)
    if any(c.code == cat.code for c in seen):
        raise Invalid((*at, "code"), f"purpose {cat.code!r} is defined twice")
    _names(cat.name, (*at, "name"))
    if cat.last < cat.first:
        raise Invalid((*at, "last"), f"must be at least first ({cat.first}); got {cat.last}")
    for other in seen:
        if other.series == cat.series and (other.first, other.last) != (cat.first, cat.last):
            raise Invalid(
                (*at, "first"),
                f"series {cat.series!r} already has range {other.first}-{other.last} (purpose {other.code}); "
                "purposes sharing a series must give the same range",
            )
        if other.series != cat.series and cat.first <= other.last and other.first <= cat.last:
            raise Invalid(
                (*at, "first"),
                f"range {cat.first}-{cat.last} overlaps series {other.series!r} ({other.first}-{other.last}); "
                "numbers called aloud must not be ambiguous",
            )
    for j, stop in enumerate(cat.route):
        if stop not in station_codes:
            raise Invalid(
                (*at, "route", j), f"{stop!r} is not a station; known stations: {', '.join(sorted(station_codes))}"
            )
    if len(set(cat.route)) != len(cat.route):
        raise Invalid((*at, "route"), "a station appears twice")
    size = cat.last - cat.first + 1
    if cat.daily_cap is not None and cat.daily_cap > size:
        raise Invalid(
            (*at, "daily_cap"), f"expected a whole number from 1 to {size} (the series' range), got {cat.daily_cap}"
        )


def _check_hours(section: str, hours: Dispenser | Kiosk) -> None:
    if hours.open >= hours.close:
        raise Invalid((section, "close"), f"must be after open ({hours.open})")
    for i, day in enumerate(sorted(hours.closed_dates)):
        try:
            date(2024, int(day[:2]), int(day[3:]))  # a leap year, so 02-29 is allowed
        except ValueError as err:
            raise Invalid((section, "closed_dates", i), f"{day!r} is not a month-day") from err
    for i, day in enumerate(sorted(hours.holidays)):
        try:
            date.fromisoformat(day)
        except ValueError as err:
            raise Invalid((section, "holidays", i), f'{day!r} is not a date like "2026-11-23"') from err
