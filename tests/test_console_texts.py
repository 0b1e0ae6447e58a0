"""The console's words: every answer the office can give is in the console's catalogue, every
text a template names exists, and an answer reads in Japanese with its fields named as staff
name them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from harness import REPO, SITE
from office.console import strings
from office.console.texts import Texts, choose_language
from office.staff_door import FAILED

# The office's calls that carry an English template for the clerk: (name, template's argument).
TEMPLATED = {"CommandError": 0, "Reply": 0, "Alert": 2}


def office_templates() -> list[tuple[str, str]]:
    found = []
    for path in sorted((REPO / "office").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            index = TEMPLATED.get(str(name))
            if index is None or len(node.args) <= index:
                continue
            arg = node.args[index]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((f"{path.relative_to(REPO)}:{node.lineno}", arg.value))
            elif isinstance(arg, ast.IfExp):  # "disabled" if off else "enabled"
                for side in (arg.body, arg.orelse):
                    if isinstance(side, ast.Constant) and isinstance(side.value, str):
                        found.append((f"{path.relative_to(REPO)}:{node.lineno}", side.value))
    return found


def test_every_answer_of_the_office_is_in_the_console_catalogue() -> None:
    templates = office_templates()
    assert len(templates) > 60  # the scan finds them (it would find none if it broke)
    missing = [(where, text) for where, text in templates if text not in strings.REPLIES]
    assert not missing, f"add these to office/console/strings.py REPLIES: {missing}"
    assert FAILED in strings.REPLIES


def test_every_text_a_template_names_exists() -> None:
    used: set[str] = set()
    for path in (REPO / "office" / "console" / "templates").rglob("*.html"):
        used.update(re.findall(r"\bt\.([A-Z][A-Z0-9_]+)\b", path.read_text(encoding="utf-8")))
    assert len(used) > 80
    missing = sorted(name for name in used if not isinstance(getattr(strings, name, None), str))
    assert not missing, missing


@pytest.mark.parametrize(
    ("template", "params", "japanese"),
    [
        ("{number} → counter {counter}", {"number": 1105, "counter": 3}, "1105番 → 3番窓口"),
        ("{number} is already {status}", {"number": 1105, "status": "void"}, "1105番はすでに取消です"),
        ("{number} → {station}", {"number": 1105, "station": "review"}, "1105番 → 審査"),
        ("your role ({role}) cannot do that here", {"role": "input"}, "この操作は入力担当の権限ではできません"),
        ("{device}: printer {fault}", {"device": "disp-1", "fault": "paper_out"}, "disp-1：プリンター用紙切れ"),
        ("unknown purpose {code}", {"code": "moving"}, "用件「転入・転出・転居」はありません"),
    ],
)
def test_an_answer_reads_in_japanese_with_its_fields_named(
    template: str, params: dict[str, object], japanese: str
) -> None:
    assert Texts("ja", SITE).say(template, params) == japanese
    assert Texts("en", SITE).say(template, params) == template.format(
        **{k: (Texts("en", SITE).say("{" + k + "}", {k: v})) for k, v in params.items()}
    )


def test_an_unknown_answer_falls_back_to_english() -> None:
    assert Texts("ja", SITE).say("something new for {user}", {"user": "sato"}) == "something new for sato"


@pytest.mark.parametrize(
    ("cookie", "accept", "chosen"),
    [
        (None, None, "ja"),
        (None, "en-US,en;q=0.9", "en"),
        ("en", "ja", "en"),
        ("fr", "fr-FR", "ja"),
        (None, "de, en;q=0.5", "en"),
    ],
)
def test_the_console_language(cookie: str | None, accept: str | None, chosen: str) -> None:
    assert choose_language(cookie, accept) == chosen


def test_the_catalogues_are_where_the_package_ships_them() -> None:
    for language in strings.LANGUAGES:
        assert Path(strings.LOCALE_DIR, language, "LC_MESSAGES", "console.mo").is_file()
