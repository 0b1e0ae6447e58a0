#!/usr/bin/env python3
"""Keep the message catalogs of the dispenser and the kiosk in step with their code, with Babel.

    python scripts/i18n.py extract   # ticket_dispenser/strings.py -> ticket_dispenser/locale/madoguchi.pot
                                     # kiosk/strings.py -> kiosk/locale/kiosk.pot
    python scripts/i18n.py update    # merge each .pot into every language's .po
    python scripts/i18n.py compile   # .po -> .mo (what the apps load with stdlib gettext)
    python scripts/i18n.py check     # exit 1 if anything below is not so
    python scripts/i18n.py check --package kiosk   # one package only

Babel (a ``test`` extra in setup.cfg) does the work on the files: extraction
(``babel.messages.extract`` with :data:`KEYWORDS`), reading and writing .po files, merging
(``Catalog.update``: a new or reworded message gets the translation of the closest old one,
marked fuzzy; a message gone from the code stays as an obsolete ``#~`` entry, revived with its
translations if it comes back) and compiling (``write_mo``, fuzzy entries left out). The apps
never import Babel: they load the committed .mo files with stdlib gettext. What is left here is
the project's own: which calls mark a message, the plural rules, and the checks.

Each package of :data:`PACKAGES` declares its catalog in ``<package>/strings.py`` (DOMAIN; the
languages are common.i18n's). ``check`` requires: the .pot is what ``extract`` would write
now; every .po has exactly the .pot's messages, each translated (not fuzzy, no empty plural
form), with the placeholders of its message id, and is what ``update`` would write; every .mo
holds what ``compile`` would write from its .po; every message that ``<package>/**/*.py``
marks is in ``<package>/strings.py``, with the same plural form, and has a comment for
translators there.

What marks a message (:func:`extract_madoguchi`, the extraction method handed to Babel): a
call with literal strings to ``_``, ``N_``, ``gettext``, ``NP_`` or ``ngettext``, to any name
the module assigns from ``gettext_for(...)`` or ``ngettext_for(...)`` (``ja =
gettext_for("ja")`` makes ``ja("No.")`` a message), and direct calls such as
``gettext_for(language)("...")``. The comment lines directly above a call are its comment for
translators. The .pot is made from strings.py alone; the other modules are only checked
against it.

The files change only when a message or its comment for translators does: no line numbers,
a fixed line width, and a file is rewritten only when more than its header's creation date
and Babel version would change. ``update`` fills English, the language of the message ids,
from the ids themselves.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import io
import re
import string
import sys
import tokenize
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract
from babel.messages.frontend import parse_keywords
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import PoFileError, read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "ticket_dispenser"
# Packages with catalogs, and the first line of their .pot and .po files.
PACKAGES = {
    "ticket_dispenser": "Translations of the madoguchi ticket dispenser.",
    "kiosk": "Translations of the madoguchi certificate kiosk.",
    "public": "Translations of the madoguchi resident's progress page.",
    "office/console": "Translations of the madoguchi staff console.",
    "display_board": "Translations of the madoguchi lobby board.",
    "setup_screen": "Translations of the madoguchi first-boot setup screen.",
}
SOURCE_LANGUAGE = "en"
# Plural rules, written into each .po. Babel's own (CLDR) rule for Portuguese has a third form
# for round millions, which no screen counts: Portuguese follows Brazil, 0 and 1 are singular.
PLURAL_FORMS = {
    "ja": "nplurals=1; plural=0;",
    "en": "nplurals=2; plural=(n != 1);",
    "zh_CN": "nplurals=1; plural=0;",
    "ko": "nplurals=1; plural=0;",
    "vi": "nplurals=1; plural=0;",
    "pt": "nplurals=2; plural=(n > 1);",
}
# The functions that mark a message, in xgettext's keyword syntax: NP_ and ngettext take the
# singular and the plural id.
KEYWORDS = parse_keywords(["_", "gettext", "N_", "NP_:1,2", "ngettext:1,2"])
# Catalog factories: what the function they return is, in KEYWORDS' terms.
FACTORIES = {"gettext_for": "gettext", "ngettext_for": "ngettext"}
# Every comment directly above a message is for translators: strings.py has one above each.
COMMENT_TAGS = ("",)
# The project's line length; Babel's comment wrapping follows it, so the comments of strings.py
# reach the catalogs line for line.
WIDTH = 120
# Header lines that change without any message changing (when the .pot was made, Babel's
# version): ignored when deciding whether a file changed.
_VOLATILE = re.compile(rb'^"(?:POT-Creation-Date|Generated-By): [^"]*"\n', re.MULTILINE)


# --------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------


def _comments_above(source: str, comment_tags: Collection[str]) -> dict[int, list[str]]:
    """For each line, the comment for translators directly above it.

    Babel's rule: a block of comment-only lines counts from its first line that starts with one
    of ``comment_tags`` (``""`` takes every comment) to its end.
    """
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
        tagged = next((i for i, text in enumerate(block) if any(text.startswith(t) for t in comment_tags)), None)
        if tagged is not None:
            blocks[line] = block[tagged:]
    return blocks


def _name(node: ast.expr) -> str | None:
    """The name a call goes to: ``f`` of ``f(...)`` and of ``module.f(...)``."""
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _aliases(tree: ast.AST, keywords: Collection[str]) -> dict[str, str]:
    """Names that mark a message in this module, each with the keyword it stands for.

    The keywords themselves, and the names the module binds to one
    (``ja = gettext_for("ja")``, ``_ = translation.gettext``).
    """
    aliases = {k: k for k in keywords}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        value = node.value
        if isinstance(value, ast.Call):
            keyword = FACTORIES.get(_name(value.func) or "")
        else:
            keyword = _name(value) if isinstance(value, ast.Attribute) else None
        if keyword is None or keyword not in keywords:
            continue
        for target in node.targets:
            if isinstance(target, ast.Name):
                aliases[target.id] = keyword
    return aliases


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def extract_madoguchi(
    fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str], options: Mapping[str, Any]
) -> Iterator[tuple[int, str, tuple[str | None, ...], list[str]]]:
    """A Babel extraction method for the project's Python: :data:`KEYWORDS`, their aliases and the factories.

    Babel's own ``python`` method cannot follow ``ja = gettext_for("ja")`` nor
    ``gettext_for(language)("...")``, and it joins separate comment blocks above a call. This
    yields what Babel expects of a method, ``(line, keyword, arguments, comments)`` with
    ``None`` for an argument that is not a literal string; Babel's ``extract`` then picks the
    ids by the keyword's spec.
    """
    source = fileobj.read().decode(options.get("encoding", "utf-8"))
    tree = ast.parse(source)
    aliases = _aliases(tree, keywords)
    comments = _comments_above(source, comment_tags)
    calls: list[tuple[ast.Call, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Call):  # gettext_for(language)("...")
            keyword = FACTORIES.get(_name(func.func) or "")
        elif isinstance(func, ast.Attribute):  # translation.gettext("...")
            keyword = func.attr if func.attr in keywords else None
        else:
            keyword = aliases.get(_name(func) or "")
        if keyword is not None and keyword in keywords:
            calls.append((node, keyword))
    for node, keyword in sorted(calls, key=lambda c: (c[0].lineno, c[0].col_offset)):
        yield node.lineno, keyword, tuple(_literal(a) for a in node.args), comments.get(node.lineno, [])


@dataclass(frozen=True)
class Marked:
    """A message one Python file marks: its ids, its comment for translators, and its line."""

    msgid: str
    plural: str | None
    comments: tuple[str, ...]
    line: int


def extract_file(path: Path) -> list[Marked]:
    """Every message ``path`` marks, in the order of the file (Babel's extract with our method)."""
    # Babel types an extraction method by what extract() yields, not by what a method yields.
    method = cast(Any, extract_madoguchi)
    with path.open("rb") as f:
        found = list(extract(method, f, KEYWORDS, COMMENT_TAGS))
    return [
        Marked(message, None, tuple(comments), line)
        if isinstance(message, str)
        else Marked(message[0], message[1], tuple(comments), line)
        for line, message, comments, _ in found
    ]


def placeholders(text: str) -> set[str]:
    """The ``str.format`` fields of ``text`` (``{people}``, ``{minutes:d}``); ValueError if malformed."""
    return {
        "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
        for _, name, spec, conv in string.Formatter().parse(text)
        if name is not None
    }


# --------------------------------------------------------------------------------------------
# the project's files
# --------------------------------------------------------------------------------------------


def _settings(root: Path, package: str) -> Any:
    """``<package>/strings.py`` of ``root``, loaded by path (it holds DOMAIN and LANGUAGES)."""
    path = root / package / "strings.py"
    spec = importlib.util.spec_from_file_location(f"_madoguchi_i18n_settings_{package}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Project:
    """Where a checkout keeps one package's catalogs."""

    root: Path
    domain: str
    languages: tuple[str, ...]
    package: str = PACKAGE

    @classmethod
    def at(cls, root: Path, package: str = PACKAGE) -> Project:
        """The catalogs ``<package>/strings.py`` of ``root`` declares."""
        settings = _settings(root, package)
        return cls(root, str(settings.DOMAIN), tuple(settings.LANGUAGES), package)

    @classmethod
    def all_at(cls, root: Path) -> list[Project]:
        """Every package of :data:`PACKAGES` that ``root`` has a catalogue for."""
        return [cls.at(root, p) for p in PACKAGES if (root / p / "strings.py").exists()]

    @property
    def catalogue(self) -> Path:
        """The module that lists the package's messages."""
        return self.root / self.package / "strings.py"

    @property
    def locale(self) -> Path:
        """The folder of the package's catalogs."""
        return self.root / self.package / "locale"

    @property
    def pot(self) -> Path:
        """The template extracted from the catalogue."""
        return self.locale / f"{self.domain}.pot"

    def po(self, language: str) -> Path:
        """The translations of ``language``."""
        return self.locale / language / "LC_MESSAGES" / f"{self.domain}.po"

    def mo(self, language: str) -> Path:
        """The compiled translations of ``language``, what the app loads."""
        return self.locale / language / "LC_MESSAGES" / f"{self.domain}.mo"

    def name(self, path: Path) -> str:
        """``path`` as the messages show it, relative to the checkout."""
        return path.relative_to(self.root).as_posix()


def _own_header(catalog: Catalog, project: Project, language: str | None) -> None:
    """Set the header fields the project decides, whatever an older file or Babel's defaults say."""
    catalog.project, catalog.version = "madoguchi", project.package
    catalog.header_comment = f"# {PACKAGES[project.package]} Generated by scripts/i18n.py with Babel; edit msgstr only."
    catalog.fuzzy = False
    if language is not None:
        catalog.mime_headers = [("Plural-Forms", PLURAL_FORMS[language])]


def render(catalog: Catalog) -> bytes:
    """The .po/.pot text of ``catalog``, the way every command writes it."""
    out = io.BytesIO()
    write_po(out, catalog, width=WIDTH, include_lineno=False)
    return out.getvalue()


def compile_mo(catalog: Catalog) -> bytes:
    """The .mo bytes of ``catalog``: its translated messages, fuzzy ones left out."""
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def same_po(a: bytes, b: bytes) -> bool:
    """Whether two .po/.pot texts are the same but for the header lines that change on every run."""
    return _VOLATILE.sub(b"", a) == _VOLATILE.sub(b"", b)


def mo_contents(data: bytes) -> dict[object, object]:
    """What a .mo gives gettext: each translation, and the language and plural rule under ``""``."""
    catalog = read_mo(io.BytesIO(data))
    entries: dict[object, object] = {
        (m.id if isinstance(m.id, str) else tuple(m.id)): tuple(_strings(m)) for m in catalog if m.id
    }
    entries[""] = (catalog.locale_identifier, catalog.plural_forms)
    return entries


class CatalogFileError(ValueError):
    """A .po or .pot file Babel cannot read (a hand edit gone wrong): the message names its line."""


# A line of a .po file: blank, a comment, or a keyword and/or one quoted string; "#~ " before
# any of them in an obsolete entry.
_PO_LINE = re.compile(r'(?:#~ )?(?:#.*|(?:(?:msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)\s+)?"(?:[^"\\]|\\.)*")?\s*')


def read_catalog(data: bytes, language: str | None = None, where: str = "po") -> Catalog:
    """A .po/.pot text as a Babel catalog; CatalogFileError if a line of it is malformed."""
    # Babel reads an unterminated string by dropping its last character: a hand edit would lose
    # part of a translation without a word, so such a line is an error here.
    for number, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if not _PO_LINE.fullmatch(line):
            raise CatalogFileError(f"{where}:{number}: cannot read {line.strip()!r}")
    try:
        return read_po(io.BytesIO(data), locale=language, abort_invalid=True, charset="utf-8")
    except PoFileError as err:
        raise CatalogFileError(f"{where}:{err.lineno + 1}: cannot read {err.line.strip()!r}") from err


def _write(path: Path, data: bytes, same: bool) -> bool:
    """Write ``data`` unless ``same`` says the file already holds it; whether it was written."""
    if path.exists() and same:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def template(project: Project) -> tuple[Catalog, list[str]]:
    """The .pot of ``project`` (the messages of its strings.py, in order) and the problems found.

    The .pot is made from ``strings.py`` alone; the other modules are only checked against it
    (each message they mark must be there, with the same plural form). So a new screen needs no
    catalog change while it shows catalogued texts, and the .pot changes only with strings.py.
    """
    catalog = Catalog(fuzzy=False, charset="utf-8")
    _own_header(catalog, project, None)
    name = project.name(project.catalogue)
    if not project.catalogue.exists():
        return catalog, [f"{name}: missing"]
    problems = []
    for m in extract_file(project.catalogue):
        where = f"{name}:{m.line}: {m.msgid!r}"
        if m.msgid in catalog:
            problems.append(f"{where} is in the catalogue twice")
            continue
        # Line 0: no line number, which would change with every edit above the message.
        ids = m.msgid if m.plural is None else (m.msgid, m.plural)
        catalog.add(ids, locations=[(name, 0)], auto_comments=m.comments)
        if not m.comments:
            problems.append(f"{where} has no comment for translators above it")
        try:
            if m.plural is not None and placeholders(m.msgid) != placeholders(m.plural):
                problems.append(f"{where} and its plural have different placeholders")
        except ValueError as err:
            problems.append(f"{where} is not a valid format string ({err})")
    others = sorted(p for p in (project.root / project.package).rglob("*.py") if p != project.catalogue)
    for path in others:
        for m in extract_file(path):
            where = f"{project.name(path)}:{m.line}: {m.msgid!r}"
            known = catalog.get(m.msgid)
            plural = None if known is None or isinstance(known.id, str) else known.id[1]
            if known is None:
                problems.append(f"{where} is not in {name}: add it there with a comment for translators")
            elif plural != m.plural:
                problems.append(
                    f"{where}: the catalogue has it "
                    + (
                        "without a plural: use gettext"
                        if plural is None
                        else f"with the plural {plural!r}: use ngettext_for(language)(*CONSTANT, n)"
                    )
                )
    return catalog, problems


def _strings(message: Message) -> list[str]:
    """A message's translations, one per plural form (one for a message without a plural)."""
    if isinstance(message.string, str):
        return [message.string]
    return list(message.string or ())


def _translated(message: Message) -> bool:
    strings = _strings(message)
    return bool(strings) and all(s.strip() for s in strings)


def merge(project: Project, pot: bytes, po: bytes | None, language: str) -> Catalog:
    """The ``language`` catalog for the template ``pot``, keeping what the old ``po`` translated (Babel's update)."""
    if po is None:
        catalog = Catalog(locale=language, fuzzy=False, charset="utf-8")
    else:
        catalog = read_catalog(po, language, project.name(project.po(language)))
    _own_header(catalog, project, language)
    template = read_catalog(pot, where=project.name(project.pot))
    # Babel's update leaves a translation obsolete when its message comes back to the code;
    # msgmerge revives it, and so does this: no translation is lost by removing a string for a while.
    for key, message in list(catalog.obsolete.items()):
        if key in template:
            catalog[message.id] = message
            del catalog.obsolete[key]
    catalog.update(template)
    if language == SOURCE_LANGUAGE:
        # English is the language of the ids: a new or reworded message translates to itself.
        for message in catalog:
            if message.id and (message.fuzzy or not _translated(message)):
                message.string = message.id
                message.flags.discard("fuzzy")
    return catalog


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------


def cmd_extract(project: Project) -> int:
    """Write the .pot from strings.py; 1 if the code has problems (the .pot is written anyway)."""
    catalog, found = template(project)
    for p in found:
        print(f"extract: {p}", file=sys.stderr)
    data = render(catalog)
    changed = _write(project.pot, data, project.pot.exists() and same_po(project.pot.read_bytes(), data))
    print(f"{project.name(project.pot)}: {len(catalog)} messages{'' if changed else ', unchanged'}")
    return 1 if found else 0


def cmd_update(project: Project) -> int:
    """Merge the .pot into every language's .po."""
    if not project.pot.exists():
        print(f"update: {project.name(project.pot)} is missing: run `python scripts/i18n.py extract`", file=sys.stderr)
        return 1
    pot = project.pot.read_bytes()
    for language in project.languages:
        path = project.po(language)
        old = path.read_bytes() if path.exists() else None
        catalog = merge(project, pot, old, language)
        data = render(catalog)
        changed = _write(path, data, old is not None and same_po(old, data))
        todo = sum(1 for m in catalog if m.id and (m.fuzzy or not _translated(m)))
        print(f"{project.name(path)}: {todo} to translate{'' if changed else ', unchanged'}")
    return 0


def cmd_compile(project: Project) -> int:
    """Compile every language's .po into its .mo."""
    for language in project.languages:
        catalog = read_catalog(project.po(language).read_bytes(), language, project.name(project.po(language)))
        data = compile_mo(catalog)
        mo = project.mo(language)
        changed = _write(mo, data, mo.exists() and mo_contents(mo.read_bytes()) == mo_contents(data))
        print(f"{project.name(mo)}: {'written' if changed else 'unchanged'}")
    return 0


def _po_problems(project: Project, catalog: Catalog, wanted: Mapping[str, str | None], language: str) -> list[str]:
    """What is wrong with the messages of one language's catalog."""
    found = []
    name = project.name(project.po(language))
    if catalog.plural_forms != PLURAL_FORMS[language]:
        found.append(f"{name}: Plural-Forms should be {PLURAL_FORMS[language]!r}; run update")
    have = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    for msgid in wanted.keys() - have.keys():
        found.append(f"{name}: {msgid!r} is missing; run `python scripts/i18n.py update`")
    for msgid in have.keys() - wanted.keys():
        found.append(f"{name}: {msgid!r} is no longer in the code; run `python scripts/i18n.py update`")
    for msgid, m in have.items():
        where = f"{name}: {msgid!r}"
        plural = None if isinstance(m.id, str) else m.id[1]
        strings = _strings(m)
        if msgid in wanted and wanted[msgid] != plural:
            found.append(f"{where}: its plural form changed; run `python scripts/i18n.py update`")
        if m.fuzzy:
            found.append(
                f"{where}: fuzzy (a translation carried over from a similar message): check it, remove the flag"
            )
        if not _translated(m):
            found.append(f"{where}: not translated")
            continue
        if plural is not None and len(strings) != catalog.num_plurals:
            found.append(f"{where}: {len(strings)} plural forms, {language} has {catalog.num_plurals}")
        try:
            expected = placeholders(plural or msgid)
            for s in strings:
                if placeholders(s) != expected:
                    found.append(
                        f"{where}: the translation {s!r} has placeholders {sorted(placeholders(s))}, "
                        f"the message id {sorted(expected)}"
                    )
        except ValueError as err:
            found.append(f"{where}: a translation is not a valid format string ({err}); write braces as {{{{ }}}}")
    return found


def problems(project: Project) -> list[str]:
    """Everything ``check`` reports; empty when the catalogs match the code."""
    catalog, found = template(project)
    pot = render(catalog)
    if not project.pot.exists() or not same_po(project.pot.read_bytes(), pot):
        found.append(
            f"{project.name(project.pot)} is not what the code marks: run `python scripts/i18n.py extract` then `update`"
        )
    wanted = {m.id if isinstance(m.id, str) else m.id[0]: None if isinstance(m.id, str) else m.id[1] for m in catalog}
    wanted.pop("", None)
    for language in project.languages:
        path, mo = project.po(language), project.mo(language)
        name = project.name(path)
        if language not in PLURAL_FORMS:
            found.append(f"{language}: no plural rule in scripts/i18n.py PLURAL_FORMS")
            continue
        if not path.exists():
            found.append(f"{name}: missing; run `python scripts/i18n.py update`")
            continue
        data = path.read_bytes()
        try:
            po = read_catalog(data, language, name)
        except CatalogFileError as err:
            found.append(str(err))
            continue
        po_found = _po_problems(project, po, wanted, language)
        if not po_found and not same_po(data, render(merge(project, pot, data, language))):
            po_found.append(
                f"{name} is not what `update` writes (comments for translators or layout): "
                "run `python scripts/i18n.py update`"
            )
        found += po_found
        if not mo.exists() or mo_contents(mo.read_bytes()) != mo_contents(compile_mo(po)):
            found.append(f"{project.name(mo)} is stale: run `python scripts/i18n.py compile`")
    return found


def cmd_check(project: Project) -> int:
    """Report every problem of the package's catalogs; 1 if there is any."""
    found = problems(project)
    for p in found:
        print(f"check: {p}", file=sys.stderr)
    if not found:
        print(f"check: {project.package}: {len(project.languages)} languages up to date with the code")
    return 1 if found else 0


COMMANDS = {"extract": cmd_extract, "update": cmd_update, "compile": cmd_compile, "check": cmd_check}


def _run(command: str, project: Project) -> int:
    try:
        return COMMANDS[command](project)
    except CatalogFileError as err:  # a hand edit broke a .po: say where, not a traceback
        print(f"{command}: {err}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command over every package with catalogs (or the one ``--package`` names)."""
    parser = argparse.ArgumentParser(prog="scripts/i18n.py", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("command", choices=list(COMMANDS))
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to work on (default: this one)")
    parser.add_argument("--package", choices=list(PACKAGES), help="one package only (default: every one)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    projects = [Project.at(root, args.package)] if args.package else Project.all_at(root)
    # Every package runs even when an earlier one fails: one run reports everything to fix.
    return max((_run(args.command, project) for project in projects), default=0)


if __name__ == "__main__":
    sys.exit(main())
