"""Load and validate an office site configuration (TOML) into office.domain.SiteConfig.

Errors are one line that names the key path and says how to fix it (STYLE.md, ESPHome).
"""

from __future__ import annotations

import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from office.domain import Category, Counter, OfficeError, SiteConfig, Station
from sync.protocol import valid_id

MAX_CODE = 32  # the protocol's limit for series, station and purpose codes
MAX_NUMBER = 9_999_999  # ticket numbers the office accepts

KNOWN_TOP = {
    "site",
    "office_name",
    "timezone",
    "rollover_hour",
    "dispenser_reserve",
    "reserve_floor",
    "lease_block_min",
    "ready_linger_minutes",
    "default_service_seconds",
    "stations",
    "categories",
    "counters",
    "dispenser",
    "kiosk",
}
KNOWN_HOURS = {"open", "close", "closed_weekdays", "closed_dates", "holidays"}
KNOWN_DISPENSER = KNOWN_HOURS | {"progress_url"}
KNOWN_KIOSK = KNOWN_HOURS | {"fees", "mayor_line", "jpki_ca", "registry"}
# Where the kiosk service takes its residents from (docs/registry.md): the demo town seeded
# into an empty store, or only the registry a town loaded into the store.
KIOSK_REGISTRY_SOURCES = ("demo", "store")
KNOWN_CATEGORY = {"code", "series", "first", "last", "share", "name", "route", "procedures", "daily_cap"}
KNOWN_STATION = {"code", "name"}
KNOWN_COUNTER = {"number", "categories"}


class ConfigError(OfficeError):
    """A site configuration that cannot be used; the message names the key and the fix."""


def _want(doc: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...], hint: str) -> Any:
    if key not in doc:
        raise ConfigError(f"{path}{key}: missing; {hint}")
    value = doc[key]
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise ConfigError(f"{path}{key}: expected {hint}, got {value!r}")
    return value


def _unknown(doc: Mapping[str, Any], known: set[str], path: str) -> None:
    extra = sorted(set(doc) - known)
    if extra:
        raise ConfigError(f"{path}{extra[0]}: unknown key; allowed keys are {', '.join(sorted(known))}")


def _names(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict) or "ja" not in value or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(
            f'{path}: expected a table of names with at least ja = "..." (e.g. {{ ja = "受付", en = "Reception" }})'
        )
    return dict(value)


def _code(value: str, path: str) -> str:
    """Codes travel in every config message: short, and safe in topics and ids."""
    if len(value) > MAX_CODE or not valid_id(value):
        raise ConfigError(f"{path}: {value!r} must be letters, digits, '.', '_' or '-' (at most {MAX_CODE})")
    return value


def parse(doc: Mapping[str, Any], source: str = "config") -> SiteConfig:
    """Validate a parsed TOML document; raise ConfigError naming the first bad key."""
    _unknown(doc, KNOWN_TOP, "")
    site = _want(doc, "site", "", str, 'a site id such as "demo-town"')
    if not valid_id(site):
        raise ConfigError("site: use 1-63 letters, digits, '.', '_' or '-'")
    tz = doc.get("timezone", "Asia/Tokyo")
    if not isinstance(tz, str):
        raise ConfigError(f'timezone: expected a time zone name such as "Asia/Tokyo", got {tz!r}')
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(f'timezone: {tz!r} is not a known time zone; use e.g. "Asia/Tokyo"') from err
    ints: dict[str, int] = {}
    for key, default, low, high in (
        ("rollover_hour", 3, 0, 12),
        ("dispenser_reserve", 700, 1, 100_000),
        ("reserve_floor", 120, 0, 100_000),
        ("lease_block_min", 20, 1, 10_000),
        ("ready_linger_minutes", 15, 0, 24 * 60),
        ("default_service_seconds", 120, 1, 24 * 3600),
    ):
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"{key}: expected a whole number from {low} to {high}, got {value!r}")
        ints[key] = value

    stations: list[Station] = []
    raw_stations = _want(doc, "stations", "", list, "a list of [[stations]] tables with code and name")
    for i, raw in enumerate(raw_stations):
        path = f"stations[{i}]."
        if not isinstance(raw, dict):
            raise ConfigError(f"stations[{i}]: expected a table with code and name")
        _unknown(raw, KNOWN_STATION, path)
        code = _code(_want(raw, "code", path, str, 'a station code such as "review"'), path + "code")
        if any(s.code == code for s in stations):
            raise ConfigError(f"{path}code: station {code!r} is defined twice; station codes must be unique")
        stations.append(Station(code, _names(raw.get("name"), path + "name")))
    station_codes = {s.code for s in stations}

    categories: list[Category] = []
    raw_cats = _want(doc, "categories", "", list, "a list of [[categories]] tables")
    if not raw_cats:
        raise ConfigError("categories: define at least one purpose")
    for i, raw in enumerate(raw_cats):
        path = f"categories[{i}]."
        if not isinstance(raw, dict):
            raise ConfigError(f"categories[{i}]: expected a table")
        _unknown(raw, KNOWN_CATEGORY, path)
        code = _code(_want(raw, "code", path, str, 'a purpose code such as "moving"'), path + "code")
        if any(c.code == code for c in categories):
            raise ConfigError(f"{path}code: purpose {code!r} is defined twice")
        series = _code(_want(raw, "series", path, str, 'a series name such as "1"'), path + "series")
        first = _want(raw, "first", path, int, "the first ticket number of the series (a whole number)")
        last = _want(raw, "last", path, int, "the last ticket number of the series (a whole number)")
        if not 0 <= first <= MAX_NUMBER:
            raise ConfigError(f"{path}first: must be from 0 to {MAX_NUMBER}; got {first}")
        if not first <= last <= MAX_NUMBER:
            raise ConfigError(f"{path}last: must be at least first ({first}); got {last}")
        for other in categories:
            if other.series == series and (other.first, other.last) != (first, last):
                raise ConfigError(
                    f"{path}first: series {series!r} already has range {other.first}-{other.last} (purpose {other.code}); purposes sharing a series must give the same range"
                )
            if other.series != series and first <= other.last and other.first <= last:
                raise ConfigError(
                    f"{path}first: range {first}-{last} overlaps series {other.series!r} ({other.first}-{other.last}); numbers called aloud must not be ambiguous"
                )
        route = _want(
            raw,
            "route",
            path,
            list,
            'a list of station codes ending at the terminal, e.g. ["reception", "issuing", "done"]',
        )
        if len(route) < 2:
            raise ConfigError(f"{path}route: needs at least a first and a terminal station")
        for j, stop in enumerate(route):
            if not isinstance(stop, str) or stop not in station_codes:
                raise ConfigError(
                    f"{path}route[{j}]: {stop!r} is not a station; known stations: {', '.join(sorted(station_codes))}"
                )
        if len(set(route)) != len(route):
            raise ConfigError(f"{path}route: a station appears twice")
        share = raw.get("share", 0.0)
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise ConfigError(f"{path}share: expected a fraction from 0 to 1, got {share!r}")
        procedures = raw.get("procedures", [])
        if not isinstance(procedures, list) or not all(isinstance(p, str) for p in procedures):
            raise ConfigError(f"{path}procedures: expected a list of procedure names")
        cap = raw.get("daily_cap")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= last - first + 1):
            raise ConfigError(
                f"{path}daily_cap: expected a whole number from 1 to {last - first + 1} (the series' range), got {cap!r}"
            )
        categories.append(
            Category(
                code,
                series,
                first,
                last,
                _names(raw.get("name"), path + "name"),
                tuple(route),
                float(share),
                tuple(procedures),
                cap,
            )
        )
    category_codes = {c.code for c in categories}

    counters: list[Counter] = []
    raw_counters = doc.get("counters", [])
    if not isinstance(raw_counters, list):
        raise ConfigError("counters: expected a list of [[counters]] tables with a number")
    for i, raw in enumerate(raw_counters):
        path = f"counters[{i}]."
        if not isinstance(raw, dict):
            raise ConfigError(f"counters[{i}]: expected a table with number")
        _unknown(raw, KNOWN_COUNTER, path)
        number = _want(raw, "number", path, int, "the counter number shown to residents")
        if not 0 <= number <= 999:
            raise ConfigError(f"{path}number: counters are numbered 0 to 999; got {number}")
        if any(c.number == number for c in counters):
            raise ConfigError(f"{path}number: counter {number} is defined twice")
        serves = raw.get("categories", [])
        if not isinstance(serves, list):
            raise ConfigError(f"{path}categories: expected a list of purpose codes (empty = all)")
        for j, code in enumerate(serves):
            if not isinstance(code, str) or code not in category_codes:
                raise ConfigError(
                    f"{path}categories[{j}]: {code!r} is not a purpose; known: {', '.join(sorted(category_codes))}"
                )
        counters.append(Counter(number, frozenset(serves)))
    if not counters:
        raise ConfigError("counters: define at least one [[counters]] table with a number")

    hours, progress_url = _dispenser(doc.get("dispenser", {}))
    kiosk = _kiosk(doc.get("kiosk", {}), source)
    return SiteConfig(
        site=site,
        office_name=str(doc.get("office_name", site)),
        timezone=tz,
        rollover_hour=ints["rollover_hour"],
        stations=tuple(stations),
        categories=tuple(categories),
        counters=tuple(counters),
        dispenser_reserve=ints["dispenser_reserve"],
        reserve_floor=ints["reserve_floor"],
        lease_block_min=ints["lease_block_min"],
        ready_linger_minutes=ints["ready_linger_minutes"],
        default_service_seconds=float(ints["default_service_seconds"]),
        dispenser_hours=hours,
        progress_url=progress_url,
        **kiosk,
    )


def _dispenser(raw: Any) -> tuple[dict[str, object], str]:
    """[dispenser]: opening hours, closures and the progress page."""
    if not isinstance(raw, dict):
        raise ConfigError("dispenser: expected a [dispenser] table")
    _unknown(raw, KNOWN_DISPENSER, "dispenser.")
    hours = _hours(raw, "dispenser", ("08:30", "17:15"), [])
    url = raw.get("progress_url", "http://madoguchi.local/t/{ticket_id}")
    if not isinstance(url, str) or "{ticket_id}" not in url or len(url) > 200:
        raise ConfigError(
            'dispenser.progress_url: expected a URL containing {ticket_id}, e.g. "https://example.jp/t/{ticket_id}"'
        )
    return hours, url


def _kiosk(raw: Any, source: str) -> dict[str, Any]:
    """[kiosk]: the certificate kiosk's hours (default 06:30-23:00, closed 29 Dec - 3 Jan), fees
    per copy ([kiosk.fees], by certificate code), the mayor's line, the trusted JPKI CA and where
    the resident registry comes from."""
    from certificates.rules import CertificateError, FeeSchedule

    if not isinstance(raw, dict):
        raise ConfigError("kiosk: expected a [kiosk] table")
    _unknown(raw, KNOWN_KIOSK, "kiosk.")
    hours = _hours(raw, "kiosk", ("06:30", "23:00"), ["12-29", "12-30", "12-31", "01-01", "01-02", "01-03"])
    try:
        fees = FeeSchedule.from_config(raw.get("fees"), path="kiosk.fees").to_dict()
    except CertificateError as err:
        raise ConfigError(str(err)) from err
    mayor = raw.get("mayor_line", "まどぐち町長　佐々木　和夫")
    if not isinstance(mayor, str) or not 0 < len(mayor) <= 60:
        raise ConfigError('kiosk.mayor_line: expected the issuing mayor\'s line, e.g. "まどぐち町長　佐々木　和夫"')
    ca = raw.get("jpki_ca", "")
    if not isinstance(ca, str):
        raise ConfigError("kiosk.jpki_ca: expected the path of the JPKI CA certificate file (PEM)")
    if ca and not Path(ca).is_absolute() and source not in ("config", "default_site.toml"):
        ca = str(Path(source).resolve().parent / ca)  # relative to the site file
    registry = raw.get("registry", "demo")
    if registry not in KIOSK_REGISTRY_SOURCES:
        raise ConfigError(
            f'kiosk.registry: expected "demo" (seed the demo town\'s residents) or "store"'
            f" (only the registry loaded into the office store), got {registry!r}"
        )
    return {
        "kiosk_hours": hours,
        "certificate_fees": fees,
        "mayor_line": mayor,
        "jpki_ca": ca,
        "kiosk_registry": registry,
    }


def _hours(
    raw: Mapping[str, Any], section: str, default: tuple[str, str], default_closed: list[str]
) -> dict[str, object]:
    """Opening hours and closures of one device kind, checked the way Hours will read them."""
    hours: dict[str, object] = {}
    for key, value_default in (("open", default[0]), ("close", default[1])):
        value = raw.get(key, value_default)
        if (
            not isinstance(value, str)
            or not re.fullmatch(r"\d\d:\d\d", value)
            or not (0 <= int(value[:2]) <= 23 and 0 <= int(value[3:]) <= 59)
        ):
            raise ConfigError(f'{section}.{key}: expected a time like "08:30", got {value!r}')
        hours[key] = value
    if hours["open"] >= hours["close"]:  # type: ignore[operator]
        raise ConfigError(f"{section}.close: must be after open ({hours['open']})")
    weekdays = raw.get("closed_weekdays", [])
    if not isinstance(weekdays, list) or not all(
        isinstance(w, int) and not isinstance(w, bool) and 0 <= w <= 6 for w in weekdays
    ):
        raise ConfigError(f"{section}.closed_weekdays: expected weekday numbers 0-6 (0 = Monday), e.g. [5, 6]")
    hours["closed_weekdays"] = sorted(set(weekdays))
    dates = raw.get("closed_dates", default_closed)
    if not isinstance(dates, list) or not all(isinstance(d, str) and re.fullmatch(r"\d\d-\d\d", d) for d in dates):
        raise ConfigError(
            f'{section}.closed_dates: expected month-day strings closed every year, e.g. ["12-29", "01-03"]'
        )
    for i, d in enumerate(dates):
        try:
            date(2024, int(d[:2]), int(d[3:]))  # a leap year, so 02-29 is allowed
        except ValueError as err:
            raise ConfigError(f"{section}.closed_dates[{i}]: {d!r} is not a month-day") from err
    hours["closed_dates"] = sorted(set(dates))
    holidays = raw.get("holidays", [])
    if not isinstance(holidays, list):
        raise ConfigError(f'{section}.holidays: expected a list of dates, e.g. ["2026-11-23"]')
    for i, d in enumerate(holidays):
        problem = f'{section}.holidays[{i}]: {d!r} is not a date like "2026-11-23"'
        if not isinstance(d, str) or len(d) != 10:
            raise ConfigError(problem)
        try:
            date.fromisoformat(d)
        except ValueError as err:
            raise ConfigError(problem) from err
    hours["holidays"] = sorted(set(holidays))
    return hours


def load(path: Path | None = None) -> SiteConfig:
    """Load a site file, or the bundled demo town when ``path`` is None."""
    if path is None:
        text = resources.files("office").joinpath("default_site.toml").read_text(encoding="utf-8")
        source = "default_site.toml"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{path}: cannot read the site configuration ({err.strerror})") from err
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: not UTF-8 text; save the site configuration as UTF-8") from err
        source = str(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML ({err})") from err
    try:
        return parse(doc, source)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err
