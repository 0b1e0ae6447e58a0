#!/usr/bin/env python3
"""Keep the message catalogs of the dispenser and the kiosk in step with their code (stdlib only).

    python scripts/i18n.py extract   # ticket_dispenser/strings.py -> ticket_dispenser/locale/madoguchi.pot
                                     # kiosk/strings.py -> kiosk/locale/kiosk.pot
    python scripts/i18n.py update    # merge each .pot into every language's .po
    python scripts/i18n.py compile   # .po -> .mo (what the apps load with stdlib gettext)
    python scripts/i18n.py check     # exit 1 if anything below is not so
    python scripts/i18n.py check --package kiosk   # one package only

Each package with catalogs (:data:`PACKAGES`) has its own domain: the dispenser's settings
(DOMAIN, LANGUAGES) are in ``ticket_dispenser/i18n.py``, the kiosk's in ``kiosk/strings.py``.
Below, "the package" is either; a checkout without the kiosk's catalogue is checked for the
dispenser alone.

``check`` requires: the .pot is what ``extract`` would write now; every .po has exactly the
.pot's messages, each translated (not fuzzy, no empty plural form), with the placeholders of
its message id; every .mo is what ``compile`` would write from its .po; every message that
``<package>/**/*.py`` marks is in ``<package>/strings.py``, with the same plural form, and has
a comment for translators there.

What is extracted, from ``strings.py`` into the .pot and from the other modules to be checked
against it: calls with a literal string to ``_``, ``N_``, ``gettext``, ``NP_`` and
``ngettext``, and to any name the module assigns from ``gettext_for(...)`` or
``ngettext_for(...)`` (``ja = gettext_for("ja")`` makes ``ja("No.")`` a message), and direct
calls such as ``gettext_for(language)("...")``. In strings.py the comment lines directly above
a constant become its comment for translators.

``update`` keeps existing translations, marks a translation carried over from a reworded
message as fuzzy (check fails until a translator confirms it and removes the flag), keeps
messages gone from the code as obsolete ``#~`` entries, and fills English, the language of
the message ids, from the ids themselves. The output is deterministic (no dates, no line
numbers, the .pot made from strings.py alone), so the files only change when a message or its
comment in strings.py does.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib.util
import io
import re
import string
import struct
import sys
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "ticket_dispenser"
CATALOGUE = f"{PACKAGE}/strings.py"
# Packages with catalogs: the module holding each one's DOMAIN and LANGUAGES, and the first
# line of its .po files.
PACKAGES = {
    "ticket_dispenser": ("strings.py", "Translations of the madoguchi ticket dispenser."),
    "kiosk": ("strings.py", "Translations of the madoguchi certificate kiosk."),
}
SOURCE_LANGUAGE = "en"
# Plural rules (the GNU gettext / CLDR ones). Portuguese follows Brazil: 0 and 1 are singular.
PLURAL_FORMS = {
    "ja": "nplurals=1; plural=0;",
    "en": "nplurals=2; plural=(n != 1);",
    "zh_CN": "nplurals=1; plural=0;",
    "ko": "nplurals=1; plural=0;",
    "vi": "nplurals=1; plural=0;",
    "pt": "nplurals=2; plural=(n > 1);",
}
SINGULAR_KEYWORDS = {"_", "N_", "gettext"}
PLURAL_KEYWORDS = {"NP_", "ngettext"}
SINGULAR_FACTORIES = {"gettext_for"}
PLURAL_FACTORIES = {"ngettext_for"}
FUZZY_CUTOFF = 0.7


# --------------------------------------------------------------------------------------------
# messages and .po files
# --------------------------------------------------------------------------------------------


@dataclass
class Message:
    """One catalog entry: ids, translations (one per plural form) and its comments."""

    msgid: str
    msgid_plural: str | None = None
    msgstr: list[str] = field(default_factory=lambda: [""])
    extracted: list[str] = field(default_factory=list)  # "#." comments for translators, from the code
    references: list[str] = field(default_factory=list)  # "#:" files the message is used in
    comments: list[str] = field(default_factory=list)  # "# " the translators' own notes
    flags: list[str] = field(default_factory=list)  # "#," fuzzy, python-brace-format
    obsolete: bool = False

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags


def _quote(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    )
    return f'"{escaped}"'


_UNESCAPE = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unquote(token: str, where: str) -> str:
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        raise ValueError(f"{where}: expected a quoted string, got {token!r}")
    return re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m.group(1), m.group(0)), token[1:-1])


def render_po(header: Sequence[str], messages: Iterable[Message], package: str = PACKAGE) -> str:
    """The text of a .po/.pot file of ``package``: the header entry, then one block per message."""
    out = [
        f"# {PACKAGES[package][1]} Generated by scripts/i18n.py; edit msgstr only.",
        'msgid ""',
        'msgstr ""',
    ]
    out += [_quote(line + "\n") for line in header]
    for m in messages:
        out.append("")
        out += [f"# {c}".rstrip() for c in m.comments]
        out += [f"#. {c}".rstrip() for c in m.extracted]
        out += [f"#: {r}" for r in m.references]
        if m.flags:
            out.append("#, " + ", ".join(m.flags))
        lines = [f"msgid {_quote(m.msgid)}"]
        if m.msgid_plural is None:
            lines.append(f"msgstr {_quote(m.msgstr[0] if m.msgstr else '')}")
        else:
            lines.append(f"msgid_plural {_quote(m.msgid_plural)}")
            lines += [f"msgstr[{i}] {_quote(s)}" for i, s in enumerate(m.msgstr)]
        out += [f"#~ {line}" for line in lines] if m.obsolete else lines
    return "\n".join(out) + "\n"


def parse_po(text: str, where: str = "po") -> tuple[dict[str, str], list[Message]]:
    """Read a .po/.pot file written by :func:`render_po` (or by the GNU tools, without msgctxt)."""
    entries: list[Message] = []
    current: Message | None = None
    pending = Message("")
    target: tuple[str, int] | None = None  # which string a continuation line extends
    has_id = False

    def finish() -> None:
        nonlocal current, pending, target, has_id
        if current is not None:
            entries.append(current)
        current, pending, target, has_id = None, Message(""), None, False

    for number, raw in enumerate(text.splitlines(), 1):
        at = f"{where}:{number}"
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
        if not line:
            if current is not None:
                finish()
            continue
        if line.startswith("#"):
            if current is not None and has_id and target is not None and target[0] == "msgstr":
                finish()
            kind, _, rest = line.partition(" ")
            rest = rest.strip()
            if kind == "#.":
                pending.extracted.append(rest)
            elif kind == "#:":
                pending.references.extend(rest.split())
            elif kind == "#,":
                pending.flags.extend(f.strip() for f in rest.split(",") if f.strip())
            elif kind == "#":
                pending.comments.append(rest)
            continue
        keyword, _, value = line.partition(" ")
        if keyword == "msgctxt":
            raise ValueError(f"{at}: msgctxt is not supported")
        if keyword == "msgid":
            if current is not None:
                finish()
            current = pending
            current.msgid, current.msgstr, current.obsolete = _unquote(value, at), [], obsolete
            target, has_id = ("msgid", 0), True
        elif current is None:
            if line.startswith('"'):
                raise ValueError(f"{at}: a string outside an entry")
            raise ValueError(f"{at}: unexpected {keyword!r}")
        elif keyword == "msgid_plural":
            current.msgid_plural, target = _unquote(value, at), ("msgid_plural", 0)
        elif keyword == "msgstr":
            current.msgstr, target = [_unquote(value, at)], ("msgstr", 0)
        elif (found := re.fullmatch(r"msgstr\[(\d+)\]", keyword)) is not None:
            index = int(found.group(1))
            if index != len(current.msgstr):
                raise ValueError(f"{at}: msgstr[{index}] out of order")
            current.msgstr.append(_unquote(value, at))
            target = ("msgstr", index)
        elif line.startswith('"') and target is not None:
            more = _unquote(line, at)
            if target[0] == "msgid":
                current.msgid += more
            elif target[0] == "msgid_plural":
                current.msgid_plural = (current.msgid_plural or "") + more
            else:
                current.msgstr[target[1]] += more
        else:
            raise ValueError(f"{at}: unexpected {keyword!r}")
    finish()
    header: dict[str, str] = {}
    messages = []
    for m in entries:
        if m.msgid == "" and not m.obsolete:
            for line in (m.msgstr[0] if m.msgstr else "").splitlines():
                key, sep, value = line.partition(":")
                if sep:
                    header[key.strip()] = value.strip()
        else:
            messages.append(m)
    return header, messages


def compile_mo(header: Sequence[str], messages: Iterable[Message]) -> bytes:
    """GNU .mo bytes (little-endian, no hash table) of the translated, non-fuzzy messages."""
    table: dict[bytes, bytes] = {b"": "".join(line + "\n" for line in header).encode("utf-8")}
    for m in messages:
        if m.obsolete or m.fuzzy or not m.msgstr or not all(m.msgstr):
            continue
        msgid = m.msgid if m.msgid_plural is None else m.msgid + "\0" + m.msgid_plural
        table[msgid.encode("utf-8")] = "\0".join(m.msgstr).encode("utf-8")
    keys = sorted(table)
    count = len(keys)
    originals_at = 7 * 4
    translations_at = originals_at + count * 8
    data_at = translations_at + count * 8
    data = bytearray()
    originals, translations = [], []
    for key in keys:
        originals.append((len(key), data_at + len(data)))
        data += key + b"\0"
    for key in keys:
        value = table[key]
        translations.append((len(value), data_at + len(data)))
        data += value + b"\0"
    out = bytearray(struct.pack("<7I", 0x950412DE, 0, count, originals_at, translations_at, 0, data_at))
    for length, offset in originals + translations:
        out += struct.pack("<2I", length, offset)
    return bytes(out + data)


# --------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------


def _comments_above(source: str) -> dict[int, list[str]]:
    """For each line, the block of comment-only lines directly above it."""
    comment_at: dict[int, str] = {}
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comment_at[tok.start[0]] = tok.string
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    blocks: dict[int, list[str]] = {}
    for line in code_lines:
        block: list[str] = []
        above = line - 1
        while above in comment_at and above not in code_lines:
            block.insert(0, comment_at[above].lstrip("#").strip())
            above -= 1
        if block:
            blocks[line] = block
    return blocks


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _aliases(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names bound to a language's gettext/ngettext in this module (``ja = gettext_for("ja")``)."""
    singular, plural = set(SINGULAR_KEYWORDS), set(PLURAL_KEYWORDS)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        value = node.value
        kind = None
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
            kind = "s" if value.func.id in SINGULAR_FACTORIES else "p" if value.func.id in PLURAL_FACTORIES else None
        elif isinstance(value, ast.Attribute):
            kind = "s" if value.attr == "gettext" else "p" if value.attr == "ngettext" else None
        for t in node.targets:
            if kind and isinstance(t, ast.Name):
                (singular if kind == "s" else plural).add(t.id)
    return singular, plural


def extract_file(path: Path, relative: str) -> list[tuple[str, str | None, list[str], int]]:
    """(msgid, msgid_plural, comments, line) of every marked string in one Python file."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=relative)
    singular, plural = _aliases(tree)
    comments = _comments_above(source)
    found: list[tuple[str, str | None, list[str], int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Call) and isinstance(func.func, ast.Name):  # gettext_for(lang)("...")
            func = func.func
            name = "_" if func.id in SINGULAR_FACTORIES else "ngettext" if func.id in PLURAL_FACTORIES else None
        else:
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in singular and node.args and (msgid := _literal(node.args[0])) is not None:
            found.append((msgid, None, comments.get(node.lineno, []), node.lineno))
        elif name in plural and len(node.args) >= 2:
            msgid, msgid_plural = _literal(node.args[0]), _literal(node.args[1])
            if msgid is not None and msgid_plural is not None:
                found.append((msgid, msgid_plural, comments.get(node.lineno, []), node.lineno))
    return sorted(found, key=lambda f: f[3])


def _sources(root: Path, package: str = PACKAGE) -> list[Path]:
    catalogue = root / package / "strings.py"
    others = sorted(p for p in (root / package).rglob("*.py") if p != catalogue)
    return [catalogue, *others]


def placeholders(text: str) -> set[str]:
    """The ``str.format`` fields of ``text`` (``{people}``, ``{minutes:d}``); ValueError if malformed."""
    return {
        "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
        for _, name, spec, conv in string.Formatter().parse(text)
        if name is not None
    }


def extract(root: Path, package: str = PACKAGE) -> tuple[list[Message], list[str]]:
    """The catalogue's messages (``<package>/strings.py``), in its order, and the problems found.

    The .pot is made from ``strings.py`` alone; the other modules are only checked against it
    (each message they mark must be there, with the same plural form). So a new screen needs no
    catalog change while it shows catalogued texts, and the .pot changes only with strings.py.
    """
    messages: dict[str, Message] = {}
    problems = []
    name = f"{package}/strings.py"
    catalogue, *others = _sources(root, package)
    if not catalogue.exists():
        return [], [f"{name}: missing"]
    for msgid, msgid_plural, comments, line in extract_file(catalogue, name):
        where = f"{name}:{line}: {msgid!r}"
        if msgid in messages:
            problems.append(f"{where} is in the catalogue twice")
            continue
        m = messages[msgid] = Message(
            msgid, msgid_plural, [""] if msgid_plural is None else ["", ""], extracted=comments, references=[name]
        )
        if not comments:
            problems.append(f"{where} has no comment for translators above it")
        try:
            if any(placeholders(t) for t in (msgid, msgid_plural or "")):
                m.flags = ["python-brace-format"]
            if msgid_plural is not None and placeholders(msgid) != placeholders(msgid_plural):
                problems.append(f"{where} and its plural have different placeholders")
        except ValueError as err:
            problems.append(f"{where} is not a valid format string ({err})")
    for path in others:
        relative = path.relative_to(root).as_posix()
        for msgid, msgid_plural, _, line in extract_file(path, relative):
            where = f"{relative}:{line}: {msgid!r}"
            known = messages.get(msgid)
            if known is None:
                problems.append(f"{where} is not in {name}: add it there with a comment for translators")
            elif known.msgid_plural != msgid_plural:
                problems.append(
                    f"{where}: the catalogue has it "
                    + (
                        "without a plural: use gettext"
                        if known.msgid_plural is None
                        else f"with the plural {known.msgid_plural!r}: use ngettext_for(language)(*CONSTANT, n)"
                    )
                )
    return list(messages.values()), problems


# --------------------------------------------------------------------------------------------
# the project's files
# --------------------------------------------------------------------------------------------


def _i18n_module(root: Path, package: str = PACKAGE) -> ModuleType:
    """The module of ``root`` with ``package``'s DOMAIN and LANGUAGES, loaded by path."""
    settings = root / package / PACKAGES[package][0]
    spec = importlib.util.spec_from_file_location(f"_madoguchi_i18n_settings_{package}", settings)
    assert spec is not None and spec.loader is not None, f"{settings} not found"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Project:
    """Where a checkout keeps its catalogs."""

    root: Path
    domain: str
    languages: tuple[str, ...]
    package: str = PACKAGE

    @classmethod
    def at(cls, root: Path, package: str = PACKAGE) -> Project:
        settings = _i18n_module(root, package)
        return cls(root, str(settings.DOMAIN), tuple(settings.LANGUAGES), package)

    @classmethod
    def all_at(cls, root: Path) -> list[Project]:
        """Every package of :data:`PACKAGES` that ``root`` has a catalogue for."""
        return [cls.at(root, p) for p in PACKAGES if (root / p / "strings.py").exists()]

    @property
    def locale(self) -> Path:
        return self.root / self.package / "locale"

    @property
    def pot(self) -> Path:
        return self.locale / f"{self.domain}.pot"

    def po(self, language: str) -> Path:
        return self.locale / language / "LC_MESSAGES" / f"{self.domain}.po"

    def mo(self, language: str) -> Path:
        return self.locale / language / "LC_MESSAGES" / f"{self.domain}.mo"


def _header(language: str | None) -> list[str]:
    lines = [
        "Project-Id-Version: madoguchi",
        f"Language: {language or ''}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    if language is not None:
        lines.append(f"Plural-Forms: {PLURAL_FORMS[language]}")
    return lines


def _nplurals(language: str) -> int:
    return int(re.search(r"nplurals=(\d+)", PLURAL_FORMS[language]).group(1))  # type: ignore[union-attr]


def _write(path: Path, text: str | bytes) -> bool:
    """Write if different; whether it changed."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def _read_po(path: Path) -> list[Message]:
    return parse_po(path.read_text(encoding="utf-8"), str(path))[1] if path.exists() else []


def merge(template: Sequence[Message], old: Sequence[Message], language: str) -> list[Message]:
    """The ``language`` catalog for ``template``, keeping what ``old`` already translated."""
    current = {t.msgid for t in template}
    by_id = {m.msgid: m for m in old}
    # Translations whose message id is gone from the code: a reworded message may take one over.
    orphans = {m.msgid: m for m in old if m.msgid not in current and any(m.msgstr)}
    merged = []
    for t in template:
        forms = 1 if t.msgid_plural is None else _nplurals(language)
        m = Message(t.msgid, t.msgid_plural, [""] * forms, list(t.extracted), list(t.references), flags=list(t.flags))
        previous = by_id.get(t.msgid)
        fuzzy = False
        if previous is not None and (previous.msgid_plural is None) == (t.msgid_plural is None):
            fuzzy = previous.fuzzy
        else:
            previous = None
            same_kind = [k for k, o in orphans.items() if (o.msgid_plural is None) == (t.msgid_plural is None)]
            close = difflib.get_close_matches(t.msgid, same_kind, n=1, cutoff=FUZZY_CUTOFF)
            if close:
                previous, fuzzy = orphans.pop(close[0]), True
        if previous is not None:
            m.comments = list(previous.comments)
        if language == SOURCE_LANGUAGE and (
            previous is None or previous.msgid != t.msgid or previous.msgid_plural != t.msgid_plural
        ):
            # English is the language of the ids: a new or reworded message translates to itself.
            m.msgstr, fuzzy = [t.msgid] if t.msgid_plural is None else [t.msgid, t.msgid_plural], False
        elif previous is not None:
            m.msgstr = (previous.msgstr + [""] * forms)[:forms]
        if fuzzy:
            m.flags.insert(0, "fuzzy")
        merged.append(m)
    for o in orphans.values():
        merged.append(Message(o.msgid, o.msgid_plural, list(o.msgstr), comments=list(o.comments), obsolete=True))
    return merged


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------


def cmd_extract(project: Project) -> int:
    messages, problems = extract(project.root, project.package)
    for p in problems:
        print(f"extract: {p}", file=sys.stderr)
    changed = _write(project.pot, render_po(_header(None), messages, project.package))
    print(f"{project.pot.relative_to(project.root)}: {len(messages)} messages{'' if changed else ', unchanged'}")
    return 1 if problems else 0


def cmd_update(project: Project) -> int:
    _, template = parse_po(project.pot.read_text(encoding="utf-8"), str(project.pot))
    for language in project.languages:
        merged = merge(template, _read_po(project.po(language)), language)
        changed = _write(project.po(language), render_po(_header(language), merged, project.package))
        todo = sum(1 for m in merged if not m.obsolete and (m.fuzzy or not all(m.msgstr)))
        print(
            f"{project.po(language).relative_to(project.root)}: {todo} to translate{'' if changed else ', unchanged'}"
        )
    return 0


def cmd_compile(project: Project) -> int:
    for language in project.languages:
        _, messages = parse_po(project.po(language).read_text(encoding="utf-8"), str(project.po(language)))
        changed = _write(project.mo(language), compile_mo(_header(language), messages))
        print(f"{project.mo(language).relative_to(project.root)}: {'written' if changed else 'unchanged'}")
    return 0


def problems(project: Project) -> list[str]:
    """Everything ``check`` reports; empty when the catalogs match the code."""
    found = []
    messages, extract_problems = extract(project.root, project.package)
    found += extract_problems
    pot_name = project.pot.relative_to(project.root)
    pot_text = render_po(_header(None), messages, project.package)
    if not project.pot.exists() or project.pot.read_text(encoding="utf-8") != pot_text:
        found.append(f"{pot_name} is not what the code marks: run `python scripts/i18n.py extract` then `update`")
    wanted = {m.msgid: m.msgid_plural for m in messages}
    for language in project.languages:
        po, mo = project.po(language), project.mo(language)
        name = po.relative_to(project.root)
        if language not in PLURAL_FORMS:
            found.append(f"{language}: no plural rule in scripts/i18n.py PLURAL_FORMS")
            continue
        if not po.exists():
            found.append(f"{name}: missing; run `python scripts/i18n.py update`")
            continue
        try:
            header, entries = parse_po(po.read_text(encoding="utf-8"), str(name))
        except ValueError as err:
            found.append(str(err))
            continue
        if header.get("Plural-Forms") != PLURAL_FORMS[language]:
            found.append(f"{name}: Plural-Forms should be {PLURAL_FORMS[language]!r}; run update")
        live = [e for e in entries if not e.obsolete]
        have = {e.msgid: e.msgid_plural for e in live}
        for msgid in wanted.keys() - have.keys():
            found.append(f"{name}: {msgid!r} is missing; run `python scripts/i18n.py update`")
        for msgid in have.keys() - wanted.keys():
            found.append(f"{name}: {msgid!r} is no longer in the code; run `python scripts/i18n.py update`")
        forms = _nplurals(language)
        for e in live:
            where = f"{name}: {e.msgid!r}"
            if e.msgid in wanted and wanted[e.msgid] != e.msgid_plural:
                found.append(f"{where}: its plural form changed; run `python scripts/i18n.py update`")
            if e.fuzzy:
                found.append(f"{where}: fuzzy (carried over from a reworded message): check it, remove the flag")
            if not e.msgstr or not all(s.strip() for s in e.msgstr):
                found.append(f"{where}: not translated")
                continue
            if e.msgid_plural is not None and len(e.msgstr) != forms:
                found.append(f"{where}: {len(e.msgstr)} plural forms, {language} has {forms}")
            try:
                expected = placeholders(e.msgid_plural or e.msgid)
                for s in e.msgstr:
                    if placeholders(s) != expected:
                        found.append(
                            f"{where}: the translation {s!r} has placeholders {sorted(placeholders(s))}, "
                            f"the message id {sorted(expected)}"
                        )
            except ValueError as err:
                found.append(f"{where}: a translation is not a valid format string ({err}); write braces as {{{{ }}}}")
        if not mo.exists() or mo.read_bytes() != compile_mo(_header(language), entries):
            found.append(f"{mo.relative_to(project.root)} is stale: run `python scripts/i18n.py compile`")
    return found


def cmd_check(project: Project) -> int:
    found = problems(project)
    for p in found:
        print(f"check: {p}", file=sys.stderr)
    if not found:
        print(f"check: {project.package}: {len(project.languages)} languages up to date with the code")
    return 1 if found else 0


COMMANDS = {"extract": cmd_extract, "update": cmd_update, "compile": cmd_compile, "check": cmd_check}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/i18n.py", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("command", choices=list(COMMANDS))
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to work on (default: this one)")
    parser.add_argument("--package", choices=list(PACKAGES), help="one package only (default: every one)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    projects = [Project.at(root, args.package)] if args.package else Project.all_at(root)
    # Every package runs even when an earlier one fails: one run reports everything to fix.
    return max((COMMANDS[args.command](project) for project in projects), default=0)


if __name__ == "__main__":
    sys.exit(main())
