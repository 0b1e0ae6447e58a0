"""The office killed with SIGKILL while clerks click in the console: no action reported done is
lost, none is applied twice (each click is retried with its request id until it is answered)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from console_harness import PASSWORD, csrf_of, free_port
from harness import REPO, Proc, env, office_process, office_rows

pytestmark = pytest.mark.slow


def add_user(db: Path, username: str, role: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "office.cli", "users", "--db", str(db), "add", username, "--name", username]
        + ["--role", role, "--password-stdin"],
        input=PASSWORD + "\n",
        check=False,
        capture_output=True,
        text=True,
        env=env(),
        cwd=REPO,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr


class Clerk:
    """A console session that retries each click, with its request id, until it is answered."""

    def __init__(self, url: str, username: str, counter: int | None) -> None:
        self.url = url
        self.c = httpx.Client(base_url=url, timeout=5, headers={"Accept-Language": "en"})
        page = self.c.get("/signin")
        form = {"csrf": csrf_of(page.text), "username": username, "password": PASSWORD}
        form["counter"] = "" if counter is None else str(counter)
        assert self.c.post("/signin", data=form).status_code == 303
        self.csrf = csrf_of(self.c.get("/desk").text)
        self.answers: dict[str, dict[str, object]] = {}
        self.retries = 0

    def click(self, **fields: str) -> dict[str, object]:
        request_id = uuid.uuid4().hex
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                r = self.c.post(
                    "/act",
                    data={"csrf": self.csrf, "request_id": request_id, **fields},
                    headers={"Accept": "application/json", "X-CSRF-Token": self.csrf},
                )
                if r.status_code in (200, 400, 403, 409):
                    body = r.json()
                    if (
                        body.get("message")
                        != "The office did not answer in time. Try again: nothing will be done twice."
                    ):
                        self.answers[request_id] = body
                        return body
            except httpx.HTTPError:
                pass  # the office is down: the same request again, in a moment
            self.retries += 1
            time.sleep(0.2)
        raise AssertionError(f"no answer to {fields} within 60 s")


def test_office_killed_while_clerks_click(mosquitto, tmp_path: Path) -> None:
    db = tmp_path / "office.sqlite3"
    for username, role in (("desk1", "floor"), ("clerk1", "clerk"), ("clerk2", "clerk")):
        add_user(db, username, role)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc: Proc = office_process(mosquitto.url, db, console_port=port)
    try:
        assert proc.wait_line("staff console on", 20)
        desk = Clerk(url, "desk1", None)
        clerks = [Clerk(url, "clerk1", 1), Clerk(url, "clerk2", 2)]
        stop = threading.Event()
        problems: list[Exception] = []

        def work(who: Clerk, fields: dict[str, str]) -> None:
            try:
                while not stop.is_set():
                    who.click(**fields)
            except (AssertionError, httpx.HTTPError, OSError, ValueError) as err:  # surfaced by the main thread
                problems.append(err)

        threads = [threading.Thread(target=work, args=(desk, {"action": "issue_ticket", "purpose": "certificates"}))]
        threads += [threading.Thread(target=work, args=(c, {"action": "call_next"})) for c in clerks]
        for t in threads:
            t.start()
        rng = random.Random(7)
        kills = 0
        for _ in range(3):
            time.sleep(rng.uniform(1.0, 2.5))
            proc.popen.send_signal(signal.SIGKILL)
            proc.popen.wait(10)
            kills += 1
            proc = office_process(mosquitto.url, db, console_port=port)
            assert proc.wait_line("staff console on", 30), "\n".join(proc.lines[-20:])
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join(90)
        assert not problems, problems
    finally:
        proc.stop()
    issued_ok = [rid for rid, body in desk.answers.items() if body["ok"]]
    called_ok = [
        rid for c in clerks for rid, body in c.answers.items() if body["ok"] and "→ counter" in str(body["message"])
    ]
    assert kills == 3 and len(issued_ok) > 10 and called_ok
    assert desk.retries + sum(c.retries for c in clerks) > 0, "no click met a dead office: the kills missed"
    # Every ticket the desk was told it issued exists once; nothing else was issued.
    tickets = office_rows(db, "SELECT COUNT(*) FROM tickets WHERE device='desk'")[0][0]
    assert tickets == len(issued_ok)
    # Each answered request was carried out once: one audit line and one stored answer per id.
    for rid in issued_ok + called_ok:
        assert office_rows(db, "SELECT COUNT(*) FROM audit WHERE request_id=? AND ok=1", rid) == [(1,)], rid
    # Every call reported done is a call in the store, none twice.
    calls = office_rows(db, "SELECT COUNT(*) FROM calls")[0][0]
    assert calls == len(called_ok)
    assert office_rows(db, "SELECT COUNT(*) FROM tickets WHERE status='called'")[0][0] <= len(called_ok)
