"""Write the device configuration as TOML (the standard library only reads it).

Enough TOML for device configurations: tables, arrays of tables, strings, integers, booleans,
floats and arrays of those. Output is deterministic (keys in the order given), so the same
configuration always gives the same bytes, and a diff shows only real changes. USB ids are
written in hex (``vendor = 0x04b8``) because that is how lsusb and the makers print them.
Small tables whose values are all plain (``usb = { vendor = 0x04b8, product = 0x0e15 }``) are
written inline, as the apps' documentation shows them.

Pure: no I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

HEX_KEYS = frozenset({"vendor", "product", "vid", "pid", "usb_vendor", "usb_product"})
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
INLINE_MAX = 100  # longest inline table before it becomes a [section] of its own


class TomlWriteError(ValueError):
    """A value TOML cannot hold (None, NaN, a nested list of tables)."""


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    # JSON's escapes are TOML's, except that TOML also forbids a raw DEL in a basic string.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"0x{value:04x}" if key in HEX_KEYS and value >= 0 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TomlWriteError(f"{key}: {value} cannot be written to the configuration")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_scalar(k, v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_scalar(key, v) for v in value) + "]"
    raise TomlWriteError(f"{key}: {value!r} cannot be written to the configuration (no TOML type for it)")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _plain(value: Any) -> bool:
    """Writable on one line: no tables, or a short table of plain values."""
    if isinstance(value, Mapping):
        if any(v is None for v in value.values()):
            return False  # written as a [table], where the missing value is reported with its key
        return (
            all(_plain(v) and not isinstance(v, Mapping) for v in value.values())
            and len(_scalar("", value)) <= INLINE_MAX
        )
    if isinstance(value, list | tuple):
        return all(not isinstance(v, Mapping) and _plain(v) for v in value)
    return True


def _table(
    lines: list[str], path: Sequence[str], table: Mapping[str, Any], header: str | None, force: bool = False
) -> None:
    # At the top, every table gets its own [header]: that is how the apps' sections look.
    def inline(value: Any) -> bool:
        return _plain(value) and not _is_table_array(value) and not (not path and isinstance(value, Mapping))

    plain = [(k, v) for k, v in table.items() if inline(v)]
    nested = [(k, v) for k, v in table.items() if not inline(v)]
    if header is not None and (plain or not nested or force):
        if lines:
            lines.append("")
        lines.append(header)
    for key, value in plain:
        if value is None:
            raise TomlWriteError(f"{'.'.join((*path, key))}: no value (TOML has no null)")
        lines.append(f"{_key(key)} = {_scalar(key, value)}")
    for key, value in nested:
        sub = (*path, key)
        dotted = ".".join(_key(p) for p in sub)
        if isinstance(value, Mapping):
            _table(lines, sub, value, f"[{dotted}]")
        elif _is_table_array(value):
            for item in value:
                _table(lines, sub, item, f"[[{dotted}]]", force=True)
        else:
            raise TomlWriteError(f"{dotted}: a list mixing tables and values cannot be written to TOML")


def dumps(doc: Mapping[str, Any], header: str = "") -> str:
    """``doc`` as TOML text; ``header`` lines become ``#`` comments at the top."""
    lines: list[str] = []
    _table(lines, (), doc, None)
    head = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return head + ("\n" if head and lines else "") + "\n".join(lines) + ("\n" if lines else "")
