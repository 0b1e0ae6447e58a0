"""The staff console over HTTP (httpx against the real uvicorn server, a real office, a real
Mosquitto): sign-in, sessions, CSRF, permissions, actions, the event stream, bad input."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from console_harness import PASSWORD, Console, Stream, csrf_of, running_console
from harness import SITE, office_rows


@pytest.fixture
def console(mosquitto, store: Path | str):
    """The console of an office on SQLite, then of one on PostgreSQL: every test here runs on both."""
    yield from running_console(mosquitto.url, store)


def act(c: httpx.Client, console: Console, page: str, **fields: str) -> dict[str, object]:
    token = csrf_of(c.get(page).text)
    r = c.post(
        "/act",
        data={"csrf": token, **fields},
        headers={"Accept": "application/json", "Origin": console.url.rstrip("/")},
    )
    body = r.json()
    assert isinstance(body, dict)
    return body


def issue(c: httpx.Client, console: Console, purpose: str = "moving") -> dict[str, object]:
    body = act(c, console, "/desk", action="issue_ticket", purpose=purpose)
    assert body["ok"], body
    return body


def test_sign_in_shows_the_roles_home_and_sign_out_ends_the_session(console: Console) -> None:
    clerk = console.sign_in("suzuki", counter=1)
    home = clerk.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/counter"
    page = clerk.get("/counter")
    assert page.status_code == 200
    assert "Call next" in page.text and "Counter 1" in page.text and "鈴木 花子" in page.text
    assert "__CSRF__" not in page.text and "__RID__" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    token = csrf_of(page.text)
    out = clerk.post("/signout", data={"csrf": token})
    assert out.status_code == 303
    assert clerk.get("/counter").status_code == 303  # back to the sign-in page
    rows = office_rows(console.office.db.path, "SELECT action, ok, username FROM audit ORDER BY id")
    assert ("sign_in", 1, "suzuki") in rows and ("sign_out", 1, "suzuki") in rows


def test_japanese_first(console: Console) -> None:
    clerk = console.sign_in("suzuki", counter=1, lang="ja")
    page = clerk.get("/counter").text
    assert "次の方を呼出" in page and "1番窓口" in page and 'lang="ja"' in page
    english = console.sign_in("tanaka", counter=2, lang="en-GB,en;q=0.8")
    assert "Call next" in english.get("/counter").text
    nobody = console.client("fr")
    assert "サインイン" in nobody.get("/signin").text  # no Japanese or English asked: Japanese


def test_wrong_passwords_lock_the_account(console: Console) -> None:
    c = console.client()
    for _ in range(SITE.console.lockout_failures):
        r = console.try_sign_in(c, "suzuki", 1, password="wrong password!")
        assert r.status_code == 401 and "wrong user name or password" in r.text
    r = console.try_sign_in(c, "suzuki", 1)
    assert r.status_code == 401 and "locked until" in r.text
    assert "set-cookie" not in r.headers or "madoguchi_staff" not in r.headers["set-cookie"]
    unknown = console.try_sign_in(c, "nobody", 1)
    assert unknown.status_code == 401 and "wrong user name or password" in unknown.text


def test_an_action_without_the_csrf_token_is_refused(console: Console) -> None:
    clerk = console.sign_in("suzuki", counter=1)
    r = clerk.post("/act", data={"action": "open_counter"}, headers={"Accept": "application/json"})
    assert r.status_code == 403 and "out of date" in r.json()["message"]
    token = csrf_of(clerk.get("/counter").text)
    other = clerk.post(
        "/act",
        data={"action": "open_counter", "csrf": token},
        headers={"Accept": "application/json", "Origin": "http://evil.example"},
    )
    assert other.status_code == 403
    signin = console.client().post("/signin", data={"username": "suzuki", "password": PASSWORD, "counter": "1"})
    assert signin.status_code == 403  # no sign-in form token either
    assert office_rows(console.office.db.path, "SELECT COUNT(*) FROM counter_state") == [(0,)]


def test_a_clerk_cannot_reach_administrator_pages(console: Console) -> None:
    clerk = console.sign_in("suzuki", counter=1)
    for path in ("/admin/users", "/admin/audit", "/floor"):
        r = clerk.get(path)
        assert r.status_code == 403, path
        assert "Your role cannot open this page." in r.text and "Traceback" not in r.text
    body = act(
        clerk,
        console,
        "/counter",
        action="add_user",
        username="mallory",
        display_name="M",
        role="admin",
        password="0123456789ab",
    )
    assert body["ok"] is False
    assert office_rows(console.office.db.path, "SELECT COUNT(*) FROM staff_users WHERE username='mallory'") == [(0,)]
    admin = console.sign_in("admin")
    assert admin.get("/admin/users").status_code == 200
    added = act(
        admin,
        console,
        "/admin/users",
        action="add_user",
        username="mori",
        display_name="森",
        role="clerk",
        password="a good long password",
    )
    assert added["ok"], added
    assert console.sign_in("mori", counter=3, password="a good long password").get("/counter").status_code == 200


def test_a_clerk_calls_and_another_console_sees_it_live(console: Console) -> None:
    floor = console.sign_in("kato")
    issued = issue(floor, console)
    clerk = console.sign_in("suzuki", counter=1)
    stream = Stream(console.sign_in("admin"), "floor")
    try:
        seen = len(stream.events)
        called = act(clerk, console, "/counter", action="call_next")
        assert called["ok"] and called["message"] == f"{issued['number']} → counter 1"
        serving = f'/case/{issued["ticket"]}">{issued["number"]}</a>'
        event = stream.wait_for(serving, "counters", after=seen)
        assert "suzuki" in str(event["panels"]["counters"])  # type: ignore[index]
    finally:
        stream.close()


def test_bad_input_is_one_sentence_in_the_clerks_language(console: Console) -> None:
    clerk = console.sign_in("suzuki", counter=1, lang="ja")
    cases = {
        "11o5": "「11o5」は番号ではありません",
        "9999": "本日 9999番の番号札はありません",
    }
    for ref, words in cases.items():
        body = act(clerk, console, "/counter", action="call_number", ref=ref)
        assert body["ok"] is False and words in str(body["message"]), body
    odd = act(clerk, console, "/counter", action="transfer_counter", ticket_id="x", counter="not a number")
    assert odd["ok"] is False and "入力内容が不足しています" in str(odd["message"])
    nothing = act(clerk, console, "/counter", action="no_such_thing")
    assert nothing["ok"] is False
    r = clerk.get("/case/2001-01-01-1-1001")
    assert r.status_code == 404 and "Traceback" not in r.text


def test_a_form_posted_without_script_gets_the_answer_on_the_next_page(console: Console) -> None:
    clerk = console.sign_in("suzuki", counter=1)
    page = clerk.get("/counter")
    r = clerk.post(
        "/act",
        data={"csrf": csrf_of(page.text), "action": "open_counter", "request_id": "plainform0001"},
        headers={"Referer": console.url + "counter"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/counter"
    assert "counter 1 is open" in clerk.get("/counter").text
    again = clerk.post(
        "/act",
        data={"csrf": csrf_of(page.text), "action": "open_counter", "request_id": "plainform0001"},
        headers={"Accept": "application/json"},
    )
    assert again.json()["message"] == "counter 1 is open"  # the same request: the same answer
    assert office_rows(console.office.db.path, "SELECT COUNT(*) FROM audit WHERE action='open_counter'") == [(1,)]


def test_every_screen_renders_for_its_roles(console: Console) -> None:
    floor = console.sign_in("kato")
    issued = issue(floor, console)
    pages = {
        "suzuki": ("/counter", "/input", "/desk", f"/case/{issued['ticket']}"),
        "sato": ("/input", f"/case/{issued['ticket']}"),
        "kato": ("/floor", "/input", "/desk", "/admin/audit", f"/case/{issued['ticket']}"),
        "admin": ("/floor", "/admin/users", "/admin/audit"),
    }
    for user, paths in pages.items():
        c = console.sign_in(user, counter=1 if user == "suzuki" else None)
        for path in paths:
            r = c.get(path)
            assert r.status_code == 200, (user, path, r.text[:300])
            assert "__CSRF__" not in r.text
        panels = c.get("/panels", params={"screen": paths[0].strip("/").split("/")[0] or "floor"})
        assert panels.status_code == 200 and panels.json()["panels"]
    sato = console.sign_in("ito")
    assert sato.get("/counter").status_code == 403
    assert sato.get("/panels", params={"screen": "floor"}).status_code == 403


def test_the_desk_prints_on_its_printer_or_says_to_write_the_number_down(mosquitto, tmp_path: Path) -> None:
    from drivers.escpos_printer import EscposTicketPrinter, FakeEscpos
    from drivers.ticket_printer import QR
    from firmware_profiles.packaged import printer_model_named
    from office.console.app import Settings
    from office.console.desk_ticket import desk_job

    fake = FakeEscpos(paper=1, near_end_at=0)
    settings = Settings(desk_printer=EscposTicketPrinter(fake, printer_model_named("TM-T20III")))
    for console in running_console(mosquitto.url, tmp_path / "office.sqlite3", settings):
        floor = console.sign_in("kato", lang="ja")
        assert "番号札を印刷する" in floor.get("/desk").text
        printed = act(floor, console, "/desk", action="issue_ticket", purpose="moving", print_ticket="1")
        assert printed["ok"] and printed["printed"] is True, printed
        assert len(fake.tickets) == 1
        ticket = console.office.db.ticket(str(printed["ticket"]))
        assert ticket is not None and ticket.token
        job = desk_job(console.office.config, ticket, 0, 0)
        assert QR(console.office.config.dispenser.progress_url.replace("{token}", ticket.token), module=5) in job.blocks
        # What came out of the printer is that ticket: the QR code opens the resident's page.
        assert fake.tickets[0].image.tobytes() == settings.desk_printer.render(job).tobytes()  # type: ignore[union-attr]
        out = act(floor, console, "/desk", action="issue_ticket", purpose="moving", print_ticket="1")
        assert out["ok"] and out["printed"] is False and out["why"] == "用紙切れ", out
        unprinted = act(floor, console, "/desk", action="issue_ticket", purpose="tax")
        assert unprinted["ok"] and unprinted["printed"] is False and unprinted["why"] == ""
        assert office_rows(console.office.db.path, "SELECT COUNT(*) FROM tickets WHERE device='desk'") == [(3,)]
