"""madoguchi-office users add|passwd|disable|enable|list, as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import REPO, env, office_rows
from office.staff_store import password_matches


def users(db: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "office.cli", "users", "--db", str(db), *args],
        input=None if password is None else password + "\n",
        check=False,
        capture_output=True,
        text=True,
        env=env(),
        cwd=REPO,
        timeout=60,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    shown = f"exit {result.returncode}: {result.stderr}"
    assert result.returncode == 2 and "Traceback" not in result.stderr, shown
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("madoguchi-office"), shown
    for needle in needles:
        assert needle in result.stderr, shown


def test_accounts_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "office.sqlite3"
    added = users(
        db, "add", "suzuki.h", "--name", "鈴木 花子", "--role", "clerk", "--password-stdin", password="first password"
    )
    assert added.returncode == 0 and added.stdout.strip() == "suzuki.h: added", added.stderr
    stored = office_rows(db, "SELECT password_hash, role, display_name FROM staff_users")
    assert stored[0][1:] == ("clerk", "鈴木 花子") and password_matches(str(stored[0][0]), "first password")
    assert users(db, "passwd", "suzuki.h", "--password-stdin", password="second password").returncode == 0
    assert password_matches(str(office_rows(db, "SELECT password_hash FROM staff_users")[0][0]), "second password")
    assert users(db, "disable", "suzuki.h").stdout.strip() == "suzuki.h: disabled"
    assert users(db, "list").stdout.strip() == "suzuki.h\tclerk\tdisabled\t鈴木 花子"
    assert users(db, "enable", "suzuki.h").returncode == 0
    assert users(db, "list").stdout.split("\t")[2] == "active"
    audit = office_rows(db, "SELECT username, action FROM audit ORDER BY id")
    assert [a for _, a in audit] == ["users_add", "users_passwd", "users_disable", "users_enable"]


def test_mistakes_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    db = tmp_path / "office.sqlite3"
    users(db, "add", "sato", "--name", "佐藤", "--role", "input", "--password-stdin", password="a long password")
    one_line_error(
        users(db, "add", "sato", "--name", "x", "--role", "clerk", "--password-stdin", password="another one!"),
        "exists already",
    )
    one_line_error(
        users(db, "add", "ito", "--name", "伊藤", "--role", "boss", "--password-stdin", password="a long password"),
        "role 'boss'",
        "clerk, input, floor, admin",
    )
    one_line_error(
        users(db, "add", "ito", "--name", "伊藤", "--role", "clerk", "--password-stdin", password="short"),
        "at least 10",
    )
    one_line_error(
        users(
            db, "add", "Ito San", "--name", "伊藤", "--role", "clerk", "--password-stdin", password="a long password"
        ),
        "lower-case",
    )
    one_line_error(users(db, "passwd", "nobody", "--password-stdin", password="a long password"), "no user 'nobody'")
    one_line_error(users(tmp_path / "missing.sqlite3", "disable", "sato"), "no office store there")
    assert office_rows(db, "SELECT username FROM staff_users") == [("sato",)]
