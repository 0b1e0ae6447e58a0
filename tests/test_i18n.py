"""The dispenser's catalogs: complete, in step with the code, and loaded by the app (scripts/i18n.py)."""

from __future__ import annotations

import gettext
import importlib.util
import shutil
import string
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

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


# --------------------------------------------------------------------------------------------
# the committed catalogs
# --------------------------------------------------------------------------------------------


def test_the_catalogs_are_in_step_with_the_code(tool: ModuleType) -> None:
    """The guard: what `scripts/i18n.py check` reports, one line per problem and how to fix it."""
    assert tool.problems(tool.Project.at(REPO)) == []


def test_check_command_exits_0_on_the_repo() -> None:
    result = _run("check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(tool: ModuleType, language: str) -> None:
    _, template = tool.parse_po((LOCALE_DIR / "madoguchi.pot").read_text(encoding="utf-8"))
    po = LOCALE_DIR / language / "LC_MESSAGES" / "madoguchi.po"
    _, entries = tool.parse_po(po.read_text(encoding="utf-8"))
    translated = {e.msgid: e for e in entries if not e.obsolete}
    assert template, "the .pot is empty"
    for t in template:
        e = translated.get(t.msgid)
        assert e is not None, f"{language}: {t.msgid!r} is missing"
        assert e.msgid_plural == t.msgid_plural, f"{language}: {t.msgid!r} plural id differs"
        assert "fuzzy" not in e.flags, f"{language}: {t.msgid!r} is fuzzy"
        assert e.msgstr and all(s.strip() for s in e.msgstr), f"{language}: {t.msgid!r} is not translated"
        for s in e.msgstr:
            assert _fields(s) == _fields(t.msgid_plural or t.msgid), f"{language}: {s!r} placeholders"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_holds_what_the_po_says(tool: ModuleType, language: str) -> None:
    """Read the .mo with the stdlib (independently of the script's compiler) and compare."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    _, entries = tool.parse_po((folder / "madoguchi.po").read_text(encoding="utf-8"))
    with (folder / "madoguchi.mo").open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    expected: dict[object, str] = {}
    for e in entries:
        if e.obsolete:
            continue
        if e.msgid_plural is None:
            expected[e.msgid] = e.msgstr[0]
        else:
            expected.update({(e.msgid, i): s for i, s in enumerate(e.msgstr)})
    catalog = {k: v for k, v in compiled._catalog.items() if k != ""}  # type: ignore[attr-defined]
    assert catalog == expected
    assert compiled.info()["language"] == language


@pytest.mark.parametrize("language", LANGUAGES)
def test_po_files_are_written_the_way_update_writes_them(tool: ModuleType, language: str) -> None:
    """A hand edit that the tools would rewrite differently shows up here, not as a noisy diff later."""
    text = (LOCALE_DIR / language / "LC_MESSAGES" / "madoguchi.po").read_text(encoding="utf-8")
    _, entries = tool.parse_po(text)
    assert tool.render_po(tool._header(language), entries) == text


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


def _edit_po(tool: ModuleType, root: Path, language: str, msgid: str, msgstr: list[str]) -> None:
    po = root / "ticket_dispenser" / "locale" / language / "LC_MESSAGES" / "madoguchi.po"
    _, entries = tool.parse_po(po.read_text(encoding="utf-8"))
    for e in entries:
        if e.msgid == msgid:
            e.msgstr = msgstr
    po.write_text(tool.render_po(tool._header(language), entries), encoding="utf-8")


def test_check_command_exits_1_on_a_missing_translation(tool: ModuleType, checkout: Path) -> None:
    assert _run("--root", str(checkout), "check").returncode == 0
    _edit_po(tool, checkout, "vi", "Back", [""])
    result = _run("--root", str(checkout), "check")
    assert result.returncode == 1
    assert "vi/LC_MESSAGES/madoguchi.po: 'Back': not translated" in result.stderr


def test_check_finds_placeholders_stale_mo_and_code_ahead_of_the_catalogs(tool: ModuleType, checkout: Path) -> None:
    project = tool.Project.at(checkout)
    assert tool.problems(project) == []

    _edit_po(tool, checkout, "ko", "Opening hours: {hours}", ["접수 시간: {hour}"])
    tool.cmd_compile(project)
    assert any("'Opening hours: {hours}'" in p and "placeholders" in p for p in tool.problems(project))
    _edit_po(tool, checkout, "ko", "Opening hours: {hours}", ["접수 시간: {hours}"])
    assert any("ko/LC_MESSAGES/madoguchi.mo is stale" in p for p in tool.problems(project))
    tool.cmd_compile(project)
    assert tool.problems(project) == []

    catalogue = checkout / "ticket_dispenser" / "strings.py"
    catalogue.write_text(
        catalogue.read_text(encoding="utf-8") + '# Test screen.\nTEST_ONLY = N_("Thank you")\n', encoding="utf-8"
    )
    found = tool.problems(project)
    assert any("madoguchi.pot is not what the code marks" in p for p in found)
    assert any("'Thank you' is missing" in p for p in found)


def test_extract_finds_every_way_the_code_marks_a_message(tool: ModuleType, tmp_path: Path) -> None:
    source = tmp_path / "screen.py"
    source.write_text(
        "ja = gettext_for('ja')\n"
        "# Shown first.\n"
        "A = N_('one')\n"
        "B = NP_('{n} cat', '{n} cats')\n"
        "ja('two')\n"
        "gettext_for(lang)('three')\n"
        "ngettext_for(lang)('{n} dog', '{n} dogs', n)\n"
        "_(A)\n",
        encoding="utf-8",
    )
    found = [(msgid, plural, comments) for msgid, plural, comments, _ in tool.extract_file(source, "screen.py")]
    assert found == [
        ("one", None, ["Shown first."]),
        ("{n} cat", "{n} cats", []),
        ("two", None, []),
        ("three", None, []),
        ("{n} dog", "{n} dogs", []),
    ]


def test_update_keeps_translations_and_flags_a_reworded_message_fuzzy(tool: ModuleType) -> None:
    message = tool.Message
    template = [message("Please take your ticket now"), message("Back"), message("{n} min", "{n} mins", ["", ""])]
    old = [
        message("Please take your ticket", msgstr=["番号札をお取りください"]),
        message("Back", msgstr=["戻る"]),
        message("Gone", msgstr=["消えた"]),
    ]
    ja = tool.merge(template, old, "ja")
    assert [(m.msgid, m.msgstr, m.fuzzy, m.obsolete) for m in ja] == [
        ("Please take your ticket now", ["番号札をお取りください"], True, False),
        ("Back", ["戻る"], False, False),
        ("{n} min", [""], False, False),
        ("Gone", ["消えた"], False, True),
    ]
    en = tool.merge(template, [message("Back", msgstr=["Go back"])], "en")  # English is the ids' language
    assert [m.msgstr for m in en[:3]] == [["Please take your ticket now"], ["Go back"], ["{n} min", "{n} mins"]]
    assert not any(m.fuzzy for m in en)


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
