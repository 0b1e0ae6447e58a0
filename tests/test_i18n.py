"""The dispenser's catalogs: complete, in step with the code, and loaded by the app (scripts/i18n.py, with Babel)."""

from __future__ import annotations

import difflib
import gettext
import importlib.util
import io
import re
import shutil
import string
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from ticket_dispenser import strings
from ticket_dispenser.strings import LANGUAGES, LOCALE_DIR, gettext_for, ngettext_for

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "i18n.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    """scripts/i18n.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("madoguchi_i18n_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _fields(text: str) -> set[str]:
    return {f"{name}!{conv}:{spec}" for _, name, spec, conv in string.Formatter().parse(text) if name is not None}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], check=False, capture_output=True, text=True, timeout=60)


def _read(path: Path) -> Catalog:
    """A .po/.pot file read by Babel directly, not through the script."""
    with path.open("rb") as f:
        return read_po(f)


def _strings(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    """A message's translations as a list, one per plural form."""
    if isinstance(value, str):
        return [value]
    return list(value or ())


# --------------------------------------------------------------------------------------------
# the committed catalogs
# --------------------------------------------------------------------------------------------


def test_the_catalogs_are_in_step_with_the_code(tool: ModuleType) -> None:
    """The guard: what `scripts/i18n.py check` reports, one line per problem and how to fix it."""
    assert tool.problems(tool.Project.at(REPO)) == []


def test_check_command_exits_0_on_the_repo() -> None:
    result = _run("check")
    assert result.returncode == 0, result.stderr
    assert "ticket_dispenser: 6 languages up to date" in result.stdout


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    template = [m for m in _read(LOCALE_DIR / "madoguchi.pot") if m.id]
    po = _read(LOCALE_DIR / language / "LC_MESSAGES" / "madoguchi.po")
    assert len(template) >= 30, "the .pot is short of the catalogue"
    for t in template:
        e = po.get(t.id if isinstance(t.id, str) else t.id[0])
        assert e is not None, f"{language}: {t.id!r} is missing"
        assert e.id == t.id, f"{language}: {t.id!r} plural id differs"
        assert not e.fuzzy, f"{language}: {t.id!r} is fuzzy"
        forms = _strings(e.string)
        assert forms and all(s.strip() for s in forms), f"{language}: {t.id!r} is not translated"
        expected = t.id if isinstance(t.id, str) else t.id[1]
        for s in forms:
            assert _fields(s) == _fields(expected), f"{language}: {s!r} placeholders"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_holds_what_the_po_says(language: str) -> None:
    """Read the .mo with the stdlib, as the app does, and the .po with Babel, and compare."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    po = _read(folder / "madoguchi.po")
    with (folder / "madoguchi.mo").open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    expected: dict[object, str] = {}
    for e in po:
        if not e.id:
            continue
        if isinstance(e.id, str):
            expected[e.id] = _strings(e.string)[0]
        else:
            expected.update({(e.id[0], i): s for i, s in enumerate(_strings(e.string))})
    catalog = {k: v for k, v in compiled._catalog.items() if k != ""}  # type: ignore[attr-defined]
    assert catalog == expected
    assert compiled.info()["language"] == language
    assert compiled.info()["plural-forms"] == po.plural_forms


def test_the_pot_carries_each_comment_above_its_constant_and_no_line_numbers() -> None:
    """Translators see what strings.py says above each constant; a line number would churn with every edit."""
    source = (REPO / "ticket_dispenser" / "strings.py").read_text(encoding="utf-8")
    comment_lines = {line.strip().lstrip("#").strip() for line in source.splitlines() if line.strip().startswith("#")}
    pot_text = (LOCALE_DIR / "madoguchi.pot").read_text(encoding="utf-8")
    pot = _read(LOCALE_DIR / "madoguchi.pot")
    people = pot.get(strings.PEOPLE_AHEAD.singular)
    assert people is not None and people.auto_comments == [
        "Result screen: how many people are ahead in the queue (at least 1). {people}: that count."
    ]
    assert people.id == tuple(strings.PEOPLE_AHEAD) and "python-brace-format" in people.flags
    for m in pot:
        if m.id:
            assert m.auto_comments, m.id
            assert set(m.auto_comments) <= comment_lines, m.id
            assert m.locations == [("ticket_dispenser/strings.py", None)], m.id
    assert not re.search(r"^#: .*:\d+", pot_text, re.MULTILINE)
    assert "POT-Creation-Date" in pot_text and "Generated-By: Babel" in pot_text  # written by Babel


def test_extract_update_and_compile_leave_the_committed_files_as_they_are(tool: ModuleType, tmp_path: Path) -> None:
    """The committed catalogs are exactly what the tool writes: running it again is not a diff."""
    for package in ("ticket_dispenser", "kiosk"):
        (tmp_path / package).mkdir()
        shutil.copy(REPO / package / "strings.py", tmp_path / package / "strings.py")
        shutil.copytree(REPO / package / "locale", tmp_path / package / "locale")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for command in ("extract", "update", "compile"):
        result = _run("--root", str(tmp_path), command)
        assert result.returncode == 0, result.stderr
        assert "written" not in result.stdout and result.stdout.count("unchanged") >= 2, result.stdout
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


# --------------------------------------------------------------------------------------------
# what the app gets
# --------------------------------------------------------------------------------------------

SAMPLES = {
    "ja": {
        "No.": "番",
        "Please choose the purpose of your visit": "ご用件をお選びください",
        "Please take your ticket": "番号札をお取りください",
        "Your number is {number}.": "お客様の番号は、{number}番です。",
    },
    "en": {"No.": "No.", "Back": "Back"},
    "zh_CN": {"No.": "号", "Back": "返回", "Language": "语言"},
    "ko": {"No.": "번", "Back": "뒤로", "Language": "언어"},
    "vi": {"Back": "Quay lại", "Language": "Ngôn ngữ"},
    "pt": {"Back": "Voltar", "Language": "Idioma"},
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_gettext_for_returns_the_translation(language: str) -> None:
    _ = gettext_for(language)
    for msgid, text in SAMPLES[language].items():
        assert _(msgid) == text
    if language != "en":
        assert _(strings.START_TITLE) != strings.START_TITLE


@pytest.mark.parametrize(
    ("language", "one", "three"),
    [
        ("en", "1 person is waiting ahead of you", "3 people are waiting ahead of you"),
        ("pt", "Há 1 pessoa esperando na sua frente", "Há 3 pessoas esperando na sua frente"),
        ("ja", "前に1人お待ちです", "前に3人お待ちです"),
        ("vi", "Có 1 người đang chờ trước quý vị", "Có 3 người đang chờ trước quý vị"),
    ],
)
def test_plural_messages_follow_the_count(language: str, one: str, three: str) -> None:
    ngettext = ngettext_for(language)
    assert ngettext(*strings.PEOPLE_AHEAD, 1).format(people=1) == one
    assert ngettext(*strings.PEOPLE_AHEAD, 3).format(people=3) == three


def test_portuguese_keeps_two_plural_forms_zero_singular() -> None:
    """The project's rule, not Babel's CLDR one (which adds a third form for round millions)."""
    ngettext = ngettext_for("pt")
    assert ngettext(*strings.PEOPLE_AHEAD, 0).format(people=0) == "Há 0 pessoa esperando na sua frente"
    assert ngettext(*strings.PEOPLE_AHEAD, 1_000_000).format(people=1_000_000).startswith("Há 1000000 pessoas")
    assert _read(LOCALE_DIR / "pt" / "LC_MESSAGES" / "madoguchi.po").plural_forms == "nplurals=2; plural=(n > 1);"


def test_the_catalogue_holds_only_marked_strings_with_matching_plural_placeholders() -> None:
    plumbing = {"DOMAIN", "LOCALE_DIR", "CATALOG", "LANGUAGES", "NATIVE_NAMES"}  # the catalog itself, not messages
    constants = {k: v for k, v in vars(strings).items() if k.isupper() and not callable(v) and k not in plumbing}
    assert len(constants) >= 30
    for name, value in constants.items():
        assert isinstance(value, str | strings.Plural), name
        if isinstance(value, strings.Plural):
            assert _fields(value.singular) == _fields(value.plural), name


def test_every_purpose_and_station_is_named_in_all_six_languages() -> None:
    doc = tomllib.loads((REPO / "office" / "default_site.toml").read_text(encoding="utf-8"))
    tables = [("stations", s) for s in doc["stations"]] + [("categories", c) for c in doc["categories"]]
    assert len(tables) >= 10
    for kind, table in tables:
        names = table["name"]
        missing = [lang for lang in LANGUAGES if not str(names.get(lang, "")).strip()]
        assert not missing, f"{kind} {table['code']}: no name in {missing}"
        assert names.get("kana"), f"{kind} {table['code']}: no kana reading"


# --------------------------------------------------------------------------------------------
# the script
# --------------------------------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the catalogue, the ticket layout and the catalogs: a tree `check` passes."""
    package = tmp_path / "ticket_dispenser"
    package.mkdir()
    for name in ("strings.py", "ticket.py"):
        shutil.copy(REPO / "ticket_dispenser" / name, package / name)
    shutil.copytree(LOCALE_DIR, package / "locale")
    return tmp_path


def _po(root: Path, language: str) -> Path:
    return root / "ticket_dispenser" / "locale" / language / "LC_MESSAGES" / "madoguchi.po"


def _edit_po(tool: ModuleType, root: Path, language: str, msgid: str, msgstr: str) -> None:
    """Change one translation the way a translator's editor does: through a .po reader and writer."""
    catalog = _read(_po(root, language))
    message = catalog.get(msgid)
    assert message is not None, msgid
    message.string = msgstr
    _po(root, language).write_bytes(tool.render(catalog))


def _rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_check_command_exits_1_on_a_missing_translation(tool: ModuleType, checkout: Path) -> None:
    assert _run("--root", str(checkout), "check").returncode == 0
    _edit_po(tool, checkout, "vi", "Back", "")
    result = _run("--root", str(checkout), "check")
    assert result.returncode == 1
    assert "vi/LC_MESSAGES/madoguchi.po: 'Back': not translated" in result.stderr
    assert "vi/LC_MESSAGES/madoguchi.mo is stale" in result.stderr  # the .mo still has it


def test_check_finds_placeholders_stale_mo_and_code_ahead_of_the_catalogs(tool: ModuleType, checkout: Path) -> None:
    project = tool.Project.at(checkout)
    assert tool.problems(project) == []

    _edit_po(tool, checkout, "ko", "Opening hours: {hours}", "접수 시간: {hour}")
    tool.cmd_compile(project)
    assert any("'Opening hours: {hours}'" in p and "placeholders" in p for p in tool.problems(project))
    _edit_po(tool, checkout, "ko", "Opening hours: {hours}", "접수 시간: {hours}")
    assert any("ko/LC_MESSAGES/madoguchi.mo is stale" in p for p in tool.problems(project))
    tool.cmd_compile(project)
    assert tool.problems(project) == []

    catalogue = checkout / "ticket_dispenser" / "strings.py"
    catalogue.write_text(
        catalogue.read_text(encoding="utf-8") + '# Test screen.\nTEST_ONLY = N_("Thank you")\n', encoding="utf-8"
    )
    found = tool.problems(project)
    assert any("madoguchi.pot is not what the code marks" in p for p in found)
    assert sum("'Thank you' is missing" in p for p in found) == len(LANGUAGES)


def test_check_finds_a_stale_comment_for_translators(tool: ModuleType, checkout: Path) -> None:
    """A reworded comment is a change the translators must see: the .pot and every .po must follow."""
    _rewrite(checkout / "ticket_dispenser" / "strings.py", "# Checklist screen, the title.", "# Checklist, the title.")
    found = tool.problems(tool.Project.at(checkout))
    assert any("madoguchi.pot is not what the code marks" in p for p in found)
    assert sum("is not what `update` writes" in p for p in found) == len(LANGUAGES)


def test_a_broken_po_is_reported_with_its_line_not_a_traceback(tool: ModuleType, checkout: Path) -> None:
    po = _po(checkout, "ja")
    lines = po.read_text(encoding="utf-8").splitlines(keepends=True)
    broken = next(i for i, line in enumerate(lines) if line.startswith('msgstr "戻る"'))
    lines[broken] = 'msgstr "戻る\n'  # an unterminated string, as a hand edit leaves it
    po.write_text("".join(lines), encoding="utf-8")
    assert f"ticket_dispenser/locale/ja/LC_MESSAGES/madoguchi.po:{broken + 1}: cannot read" in " ".join(
        tool.problems(tool.Project.at(checkout))
    )
    result = _run("--root", str(checkout), "update")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and f"madoguchi.po:{broken + 1}" in result.stderr


def test_extract_finds_every_way_the_code_marks_a_message(tool: ModuleType, tmp_path: Path) -> None:
    source = tmp_path / "screen.py"
    source.write_text(
        "# A section heading: not for translators, a blank line follows.\n"
        "\n"
        "ja = gettext_for('ja')\n"
        "plural = S.ngettext_for(language)\n"
        "t = translation.gettext\n"
        "# Shown first.\n"
        "# Second line of the comment.\n"
        "A = N_('one')\n"
        "B = NP_('{n} cat', '{n} cats')\n"
        "ja('two')\n"
        "gettext_for(lang)('three')\n"
        "ngettext_for(lang)('{n} dog', '{n} dogs', n)\n"
        "S.gettext_for(lang)('four')\n"
        "plural('{n} bird', '{n} birds', n)\n"
        "t('five')\n"
        "self.catalog.gettext('six')\n"
        "_(A)\n"
        "gettext_for('ja')\n"
        "ngettext('{n} fish', n)\n",
        encoding="utf-8",
    )
    found = [(m.msgid, m.plural, m.comments, m.line) for m in tool.extract_file(source)]
    assert found == [
        ("one", None, ("Shown first.", "Second line of the comment."), 8),
        ("{n} cat", "{n} cats", (), 9),
        ("two", None, (), 10),
        ("three", None, (), 11),
        ("{n} dog", "{n} dogs", (), 12),
        ("four", None, (), 13),
        ("{n} bird", "{n} birds", (), 14),
        ("five", None, (), 15),
        ("six", None, (), 16),
    ]


def test_the_extraction_method_follows_babels_comment_tags(tool: ModuleType) -> None:
    """With a tag, as pybabel's --add-comments, only the part of a block from a tagged line counts."""
    source = b"# layout note\n# TRANSLATORS: the title\n# on two lines\nTITLE = N_('Title')\n"
    found = list(tool.extract_madoguchi(io.BytesIO(source), tool.KEYWORDS, ["TRANSLATORS:"], {}))
    assert found == [(4, "N_", ("Title",), ["TRANSLATORS: the title", "on two lines"])]
    untagged = list(tool.extract_madoguchi(io.BytesIO(source), tool.KEYWORDS, ["NOTE:"], {}))
    assert untagged == [(4, "N_", ("Title",), [])]


def test_update_keeps_translations_and_flags_a_reworded_message_fuzzy(tool: ModuleType) -> None:
    project = tool.Project.at(REPO)
    template = Catalog(fuzzy=False)
    for ids in ("Please take your ticket now", "Back", ("{n} min", "{n} mins")):
        template.add(ids)
    old = Catalog(locale="ja", fuzzy=False)
    old.add("Please take your ticket", "番号札をお取りください")
    old.add("Back", "戻る")
    old.add("Gone for good", "消えた")
    ja = tool.merge(project, tool.render(template), tool.render(old), "ja")
    written = read_po(io.BytesIO(tool.render(ja)))  # what a translator gets
    assert [(m.id, m.string, m.fuzzy) for m in written if m.id] == [
        ("Please take your ticket now", "番号札をお取りください", True),
        ("Back", "戻る", False),
        (("{n} min", "{n} mins"), ("",), False),
    ]
    assert [(m.id, m.string) for m in written.obsolete.values()] == [("Gone for good", "消えた")]
    assert written.plural_forms == "nplurals=1; plural=0;"
    assert '#~ msgid "Gone for good"' in tool.render(ja).decode("utf-8")

    old_en = Catalog(locale="en", fuzzy=False)
    old_en.add("Back", "Go back")
    en = tool.merge(project, tool.render(template), tool.render(old_en), "en")  # English is the ids' language
    assert [m.string for m in en if m.id] == ["Please take your ticket now", "Go back", ("{n} min", "{n} mins")]
    assert not any(m.fuzzy for m in en)


def test_a_reworded_message_keeps_its_translations_fuzzy_until_a_translator_confirms(
    tool: ModuleType, checkout: Path
) -> None:
    project = tool.Project.at(checkout)
    _rewrite(
        checkout / "ticket_dispenser" / "strings.py",
        'N_("Please take your ticket")',
        'N_("Please take your ticket now")',
    )
    assert (tool.cmd_extract(project), tool.cmd_update(project), tool.cmd_compile(project)) == (0, 0, 0)

    ja = _read(_po(checkout, "ja"))
    reworded = ja.get("Please take your ticket now")
    assert reworded is not None and reworded.fuzzy and reworded.string == "番号札をお取りください"
    assert "Please take your ticket" not in ja and "Please take your ticket" not in ja.obsolete  # taken over
    en = _read(_po(checkout, "en")).get("Please take your ticket now")
    assert en is not None and not en.fuzzy and en.string == "Please take your ticket now"
    with (_po(checkout, "ja").with_suffix(".mo")).open("rb") as f:  # a fuzzy translation is never shown
        assert gettext.GNUTranslations(f).gettext("Please take your ticket now") == "Please take your ticket now"
    fuzzy = [p for p in tool.problems(project) if "fuzzy" in p]
    assert fuzzy == [
        f"ticket_dispenser/locale/{language}/LC_MESSAGES/madoguchi.po: 'Please take your ticket now': "
        "fuzzy (a translation carried over from a similar message): check it, remove the flag"
        for language in LANGUAGES
        if language != "en"
    ]

    for language in LANGUAGES:  # the translators confirm
        catalog = _read(_po(checkout, language))
        message = catalog.get("Please take your ticket now")
        assert message is not None
        message.flags.discard("fuzzy")
        _po(checkout, language).write_bytes(tool.render(catalog))
    tool.cmd_compile(project)
    assert tool.problems(project) == []
    with (_po(checkout, "ja").with_suffix(".mo")).open("rb") as f:
        assert gettext.GNUTranslations(f).gettext("Please take your ticket now") == "番号札をお取りください"


def test_a_message_removed_for_a_while_keeps_its_translations(tool: ModuleType, checkout: Path) -> None:
    project = tool.Project.at(checkout)
    catalogue = checkout / "ticket_dispenser" / "strings.py"
    original = catalogue.read_text(encoding="utf-8")
    _rewrite(catalogue, 'LANGUAGE_LABEL = N_("Language")\n', "")
    assert (tool.cmd_extract(project), tool.cmd_update(project), tool.cmd_compile(project)) == (0, 0, 0)
    ko = _read(_po(checkout, "ko"))
    assert "Language" not in ko and ko.obsolete["Language"].string == "언어"
    assert tool.problems(project) == []

    catalogue.write_text(original, encoding="utf-8")
    assert (tool.cmd_extract(project), tool.cmd_update(project), tool.cmd_compile(project)) == (0, 0, 0)
    assert tool.problems(project) == []
    for language in LANGUAGES:  # back as committed, but for the date the .pot was made again
        po, committed = _po(checkout, language), LOCALE_DIR / language / "LC_MESSAGES" / "madoguchi.po"
        assert tool.same_po(po.read_bytes(), committed.read_bytes()), language
        mo = po.with_suffix(".mo")
        assert tool.mo_contents(mo.read_bytes()) == tool.mo_contents(committed.with_suffix(".mo").read_bytes())


def test_files_change_only_where_a_comment_for_translators_does(tool: ModuleType, checkout: Path) -> None:
    project = tool.Project.at(checkout)
    before = _files(checkout)
    _rewrite(
        checkout / "ticket_dispenser" / "strings.py",
        "# Start screen, the title at the top.",
        "# Start screen, the title at the top, in large type.",
    )
    assert (tool.cmd_extract(project), tool.cmd_update(project), tool.cmd_compile(project)) == (0, 0, 0)
    after = _files(checkout)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {
        "ticket_dispenser/strings.py",
        "ticket_dispenser/locale/madoguchi.pot",
        *(f"ticket_dispenser/locale/{language}/LC_MESSAGES/madoguchi.po" for language in LANGUAGES),
    }  # the .mo files hold no comments: unchanged
    for name in changed - {"ticket_dispenser/strings.py"}:
        diff = difflib.ndiff(before[name].decode().splitlines(), after[name].decode().splitlines())
        edits = [line for line in diff if line[:2] in ("- ", "+ ")]
        assert "+ #. Start screen, the title at the top, in large type." in edits, name
        assert all("Start screen, the title" in e or "POT-Creation-Date" in e for e in edits), (name, edits)
    assert tool.problems(project) == []


def test_a_new_language_starts_from_the_template_with_the_projects_plural_rule(
    tool: ModuleType, checkout: Path
) -> None:
    project = tool.Project.at(checkout)
    _po(checkout, "pt").unlink()
    assert "pt/LC_MESSAGES/madoguchi.po: missing" in " ".join(tool.problems(project))
    tool.cmd_update(project)
    pt = _read(_po(checkout, "pt"))
    assert pt.plural_forms == "nplurals=2; plural=(n > 1);" and str(pt.locale) == "pt"
    people = pt.get(strings.PEOPLE_AHEAD.singular)
    assert people is not None and people.auto_comments and people.id == tuple(strings.PEOPLE_AHEAD)
    assert all(not _strings(m.string)[0] for m in pt if m.id)
    assert sum("pt/LC_MESSAGES/madoguchi.po" in p and "not translated" in p for p in tool.problems(project)) == len(
        [m for m in pt if m.id]
    )


def test_code_may_only_show_catalogued_messages_with_their_plural_form(tool: ModuleType, checkout: Path) -> None:
    screen = checkout / "ticket_dispenser" / "screen.py"
    screen.write_text(
        "_ = gettext_for(language)\n"
        "_('Back')\n"
        "ngettext_for(language)('{people} person is waiting ahead of you', '{people} people are waiting ahead of you', n)\n",
        encoding="utf-8",
    )
    assert tool.problems(tool.Project.at(checkout)) == []
    screen.write_text("_ = gettext_for(language)\n_('Thank you')\n_('Estimated wait: about {minutes} minute')\n")
    found = tool.problems(tool.Project.at(checkout))
    assert found == [
        (
            "ticket_dispenser/screen.py:2: 'Thank you' is not in ticket_dispenser/strings.py: "
            "add it there with a comment for translators"
        ),
        (
            "ticket_dispenser/screen.py:3: 'Estimated wait: about {minutes} minute': the catalogue has it with "
            "the plural 'Estimated wait: about {minutes} minutes': use ngettext_for(language)(*CONSTANT, n)"
        ),
    ]


def test_the_catalogue_needs_a_comment_for_every_message_once(tool: ModuleType, checkout: Path) -> None:
    catalogue = checkout / "ticket_dispenser" / "strings.py"
    catalogue.write_text(
        catalogue.read_text(encoding="utf-8") + '\nAGAIN = N_("Back")\n# Mismatched.\nBAD = NP_("{n} a", "{m} b")\n',
        encoding="utf-8",
    )
    _, found = tool.template(tool.Project.at(checkout))
    assert [re.sub(r":\d+:", ":N:", p) for p in found] == [
        "ticket_dispenser/strings.py:N: 'Back' is in the catalogue twice",
        "ticket_dispenser/strings.py:N: '{n} a' and its plural have different placeholders",
    ]
