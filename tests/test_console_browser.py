"""The staff console in a real browser: Debian's Chromium driven by Playwright against a real
office on a real Mosquitto, the console served by uvicorn (tests/console_harness.py).

A clerk signs in with the keyboard and calls; other consoles, the resident's page (a real
``madoguchi-public`` process the office feeds) and the lobby board follow without reloading.
Two input operators race for one case; a counter takes a case back; a dispenser's printer runs
out of paper and an open counter screen says so. axe-core (vendored, tests/vendor/axe-core)
finds no WCAG 2.0 A/AA violation on any screen, in Japanese and English; the frequent actions
work from the keyboard alone; bad input is one sentence, never a traceback.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, expect, sync_playwright
from test_public_browser import axe_violations, mark, not_reloaded

from console_harness import PASSWORD, Console, act_as, busy_morning, running_console, start_console
from harness import SITE, has_full_lease, start_dispenser
from office import actions as a
from public_harness import CHROMIUM, CHROMIUM_ARGS, PHONE, start_public
from sync.agent import AgentConfig, DeviceAgent

LIVE_MS = 10_000  # how long a live change may take to reach a screen
FLOOR = a.Actor("kato", "floor")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def console(mosquitto: Any, tmp_path: Path) -> Iterator[Console]:
    yield from running_console(mosquitto.url, tmp_path / "office.sqlite3")


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """Browser contexts a test opens (one per person), closed after it."""
    opened: list[BrowserContext] = []
    try:
        yield opened
    finally:
        for ctx in opened:
            ctx.close()


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def rid() -> str:
    return uuid.uuid4().hex


def locale(lang: str) -> str:
    return "ja-JP" if lang == "ja" else "en-GB"


def new_context(browser: Browser, contexts: list[BrowserContext], lang: str = "en", **options: Any) -> BrowserContext:
    ctx = browser.new_context(locale=locale(lang), **{"viewport": {"width": 1280, "height": 900}, **options})
    ctx.add_init_script(STREAMS_SEEN)
    contexts.append(ctx)
    return ctx


def sign_in(ctx: BrowserContext, console: Console, user: str, counter: int | None = None) -> Page:
    """A page of ``ctx`` signed in as ``user`` (at ``counter``), through the sign-in form."""
    page = ctx.new_page()
    page.goto(console.url + "signin")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    if counter is not None:
        page.select_option("#counter", str(counter))
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/signin" not in page.url, page.locator("body").inner_text()
    return page


# Every EventSource a page opens, kept where a test can see whether it is open.
STREAMS_SEEN = """(() => {
  const Original = window.EventSource;
  if (!Original) return;
  window.__streams = [];
  window.EventSource = function (url, options) {
    const es = new Original(url, options);
    window.__streams.push(es);
    return es;
  };
  window.EventSource.prototype = Original.prototype;
})();"""


def open_live(page: Page, console: Console, path: str) -> Page:
    """``page`` at ``path``, its event stream open, marked so a reload would show."""
    if not page.url.endswith(path):
        page.goto(console.url + path.lstrip("/"))
    wait_js(page, "(window.__streams || []).some((es) => es.readyState === 1)", LIVE_MS)
    mark(page)
    return page


def issue(console: Console, purpose: str = "moving") -> tuple[str, int]:
    """A ticket issued at the desk: its id and number."""
    reply: Any = act_as(console, FLOOR, a.IssueTicket(request_id=rid(), purpose=purpose))
    ticket = console.office.db.ticket(reply.ticket_id)
    assert ticket is not None
    return ticket.ticket_id, ticket.number


def at_input(console: Console, counter: int = 3, user: str = "tanaka") -> tuple[str, int]:
    """A case sent on from a counter to the input centre, nobody holding it yet."""
    ticket_id, number = issue(console)
    clerk = a.Actor(user, "clerk", counter)
    act_as(console, clerk, a.CallNumber(request_id=rid(), ref=str(number)))
    act_as(console, clerk, a.Start(request_id=rid(), ticket_id=ticket_id))
    act_as(console, clerk, a.Finish(request_id=rid(), ticket_id=ticket_id, outcome="next"))
    return ticket_id, number


def wait_js(page: Page, expression: str, timeout_ms: float) -> None:
    """Poll ``expression`` until it is true. Not page.wait_for_function: when its predicate is
    not true at once, Playwright polls it through eval inside the page, which the console's
    Content-Security-Policy (script-src 'self') refuses; page.evaluate is not subject to it."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_ms / 1000:g} s: {expression}")
        page.wait_for_timeout(50)


def said(page: Page) -> str:
    """The answer line, once the office has answered (not "working...")."""
    box = page.locator("#said")
    wait_js(
        page,
        "(() => { const s = document.getElementById('said'); return /\\b(ok|refused)\\b/.test(s.className)"
        " && s.textContent.trim() !== document.body.getAttribute('data-working'); })()",
        LIVE_MS,
    )
    return box.inner_text().strip()


def one_sentence(text: str) -> bool:
    """A plain line: no traceback, no stack of lines, not a page."""
    return 0 < len(text) < 160 and "\n" not in text and "Traceback" not in text and "<" not in text


# --------------------------------------------------------------------------------------------
# 1. signing in, calling, another console following live
# --------------------------------------------------------------------------------------------


def test_a_clerk_signs_in_by_keyboard_calls_next_and_the_floor_sees_it_live(
    console: Console, browser: Browser, contexts: list[BrowserContext]
) -> None:
    ticket_id, number = issue(console)
    floor = open_live(sign_in(new_context(browser, contexts), console, "kato"), console, "/floor")

    page = new_context(browser, contexts).new_page()
    page.goto(console.url + "signin")
    assert page.evaluate("document.activeElement.id") == "username"  # autofocus: type at once
    page.keyboard.type("suzuki")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "counter"
    page.keyboard.press("ArrowDown")  # the first counter after "no counter"
    page.keyboard.press("Tab")
    with page.expect_navigation(url="**/counter"):
        page.keyboard.press("Enter")
    expect(page.locator("#h-bar")).to_contain_text("Counter 1")
    expect(page.locator(".who")).to_contain_text("鈴木 花子")
    open_live(page, console, "/counter")

    page.get_by_role("button", name="Call next").click()
    expect(page.locator("#p-current .card .number")).to_have_text(str(number), timeout=LIVE_MS)
    assert said(page) == f"{number} → counter 1"
    # The floor manager's console: counter 1, served by suzuki, now has the number.
    row = floor.locator("#p-counters tr", has_text="Counter 1")
    expect(row.locator(f'a[href="/case/{ticket_id}"]')).to_have_text(str(number), timeout=LIVE_MS)
    expect(row).to_contain_text("suzuki")
    expect(floor.locator(f'#p-tickets tr[data-number="{number}"]')).to_contain_text("called")
    assert not_reloaded(floor), "the floor view reloaded instead of updating"
    assert not_reloaded(page), "the counter screen reloaded"


# --------------------------------------------------------------------------------------------
# 2. the resident's page and the lobby board follow the call
# --------------------------------------------------------------------------------------------


def test_the_call_reaches_the_residents_phone_and_the_lobby_board_live(
    mosquitto: Any, browser: Browser, contexts: list[BrowserContext], tmp_path: Path, wait_for: Any
) -> None:
    (tmp_path / "public").mkdir()
    public = start_public(tmp_path / "public")
    site = msgspec.structs.replace(
        SITE, public=msgspec.structs.replace(SITE.public, url=public.url, secret_file=str(public.secret_file))
    )
    console = start_console(mosquitto.url, tmp_path / "office.sqlite3", config=site)
    board = DeviceAgent(
        AgentConfig(
            site=SITE.site, device_id="board-1", role="board", broker_url=mosquitto.url, data_dir=tmp_path / "board-1"
        )
    )
    board.start()
    try:
        ticket_id, number = issue(console, "certificates")
        ticket = console.office.db.ticket(ticket_id)
        assert ticket is not None and ticket.token
        wait_for(lambda: public.get(f"/t/{ticket.token}").status_code == 200, message="the page process has the ticket")

        def train() -> tuple[Any, ...] | None:
            snap = board.document("board_snapshot")
            if snap is None:
                return None
            return next((row for line in snap.lines for row in line.tickets if row[0] == number), None)

        wait_for(lambda: train() is not None, message="the board has the ticket's train")
        assert train() == (number, -1, "waiting", None)  # on the platform

        phone = new_context(browser, contexts, "ja", viewport=PHONE, is_mobile=True, has_touch=True).new_page()
        phone.goto(f"{public.url}/t/{ticket.token}")
        assert phone.locator(".num").inner_text() == str(number)
        expect(phone.locator("p.call")).to_have_count(0)
        mark(phone)

        clerk = open_live(sign_in(new_context(browser, contexts), console, "suzuki", 1), console, "/counter")
        clerk.get_by_role("button", name="Call next").click()
        expect(clerk.locator("#p-current .card .number")).to_have_text(str(number), timeout=LIVE_MS)

        expect(phone.locator("p.call")).to_have_text("1番窓口へお越しください", timeout=LIVE_MS)
        assert not_reloaded(phone), "the resident's page reloaded instead of updating"

        # The board's retained snapshot: the train stands at the first station, at counter 1,
        # and the call is the newest.
        wait_for(lambda: train() == (number, 0, "called", 1), message=f"the board shows {number} called to counter 1")
        snap = board.document("board_snapshot")
        assert snap is not None
        assert (snap.calls[0].number, snap.calls[0].counter) == (number, 1)
        assert (1, number, "call") in [(c.counter, c.number, c.kind) for c in snap.counters]
    finally:
        board.stop()
        console.close()
        public.stop()


# --------------------------------------------------------------------------------------------
# 3. two input operators race for one case; 4. a counter takes a case back
# --------------------------------------------------------------------------------------------


def case_row(page: Page, ticket_id: str) -> Any:
    return page.locator(f'#p-cases tr[data-ticket="{ticket_id}"]')


def test_two_operators_race_for_one_case_and_exactly_one_gets_it(
    console: Console, browser: Browser, contexts: list[BrowserContext]
) -> None:
    ticket_id, number = at_input(console)
    sato = open_live(sign_in(new_context(browser, contexts), console, "sato"), console, "/input")
    ito = open_live(sign_in(new_context(browser, contexts), console, "ito"), console, "/input")
    for page in (sato, ito):
        expect(case_row(page, ticket_id).locator(".holder")).to_have_text("Nobody holds it")

    # Both press Take before either answer is known: the requests are held until both are sent,
    # then let go together; the office loop decides.
    held: list[Route] = []
    for page in (sato, ito):
        page.route("**/act", lambda route: held.append(route))
    for page in (sato, ito):
        case_row(page, ticket_id).get_by_role("button", name="Take").click()
    deadline = time.monotonic() + 10
    while len(held) < 2:
        assert time.monotonic() < deadline, "the two presses did not both go out"
        sato.wait_for_timeout(10)
    for route in held:
        route.continue_()
    answers = {"sato": said(sato), "ito": said(ito)}
    classes = {"sato": sato.locator("#said").get_attribute("class"), "ito": ito.locator("#said").get_attribute("class")}
    winners = [user for user, cls in classes.items() if cls == "said ok"]
    assert len(winners) == 1, (answers, classes)
    winner = winners[0]
    loser = "ito" if winner == "sato" else "sato"
    assert answers[winner] == f"you are working on {number}"
    held_by = console.office.db.ticket(ticket_id)
    assert held_by is not None and held_by.holder == winner
    # Both screens end up showing the holder, without reloading.
    for page in (sato, ito):
        expect(case_row(page, ticket_id).locator(".holder")).to_have_text(f"Held by {winner}", timeout=LIVE_MS)
        assert not_reloaded(page)
    refusal = answers[loser]
    assert classes[loser] == "said refused" and one_sentence(refusal), refusal
    assert refusal == f"{number} is already being worked on by {winner}", refusal


def test_a_counter_takes_a_case_back_and_the_input_centre_sees_it_live(
    console: Console, browser: Browser, contexts: list[BrowserContext]
) -> None:
    ticket_id, number = at_input(console)
    sato = open_live(sign_in(new_context(browser, contexts), console, "sato"), console, "/input")
    expect(case_row(sato, ticket_id).locator(".holder")).to_have_text("Nobody holds it")

    clerk = open_live(sign_in(new_context(browser, contexts), console, "suzuki", 1), console, f"/case/{ticket_id}")
    expect(clerk.locator("#p-case .route li.here")).to_contain_text("Input")
    clerk.locator("#p-case").get_by_role("button", name="Take").click()
    assert said(clerk) == f"you are working on {number}"
    expect(clerk.locator("#p-case .holder")).to_have_text("Held by suzuki", timeout=LIVE_MS)

    expect(case_row(sato, ticket_id).locator(".holder")).to_have_text("Held by suzuki", timeout=LIVE_MS)
    expect(case_row(sato, ticket_id).get_by_role("button", name="Take")).to_have_count(0)
    # sato's screen offers the holder's buttons to the holder only
    expect(case_row(sato, ticket_id).get_by_role("button", name="Next station")).to_have_count(0)
    expect(sato.locator("#p-load")).to_contain_text("suzuki")
    assert not_reloaded(sato), "the input centre's screen reloaded instead of updating"


# --------------------------------------------------------------------------------------------
# 5. a dispenser runs out of paper: the open counter screen says so
# --------------------------------------------------------------------------------------------


def test_a_printer_out_of_paper_shows_on_an_open_counter_screen_with_the_held_numbers(
    console: Console, browser: Browser, contexts: list[BrowserContext], tmp_path: Path, wait_for: Any
) -> None:
    from drivers.escpos_printer import EscposTicketPrinter, FakeEscpos
    from firmware_profiles.packaged import printer_model_named

    page = open_live(sign_in(new_context(browser, contexts, "ja"), console, "suzuki", 1), console, "/counter")
    expect(page.locator("#p-alerts")).to_contain_text("お知らせはありません")

    device = start_dispenser(console.office.broker_url, tmp_path / "disp-1", "disp-1")
    try:
        device.dispenser.printer = EscposTicketPrinter(
            FakeEscpos(paper=2, near_end_at=1), printer_model_named("TM-T20III")
        )
        wait_for(lambda: has_full_lease(device), message="the dispenser got its leases")
        held = []
        for purpose in ("certificates", "moving", "tax"):
            result = device.dispenser.issue(purpose)
            if not result.printed:
                held.append(result.ticket.number)
        assert held and len(held) < 3, held  # the roll ran out after the first ticket or two

        alert = page.locator("#p-alerts li.alert.error", has_text="disp-1")
        expect(alert).to_have_text(
            f"disp-1：プリンター用紙切れ。未印刷の番号：{', '.join(map(str, held))}", timeout=LIVE_MS
        )
        assert page.locator("#p-alerts").get_attribute("aria-live") == "polite"
        assert not_reloaded(page), "the counter screen reloaded instead of updating"
    finally:
        device.close()


# --------------------------------------------------------------------------------------------
# 6. accessibility: axe-core on every screen; the counter by keyboard alone
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_axe_finds_no_wcag_2_aa_violation_on_any_screen(
    console: Console, browser: Browser, contexts: list[BrowserContext], tmp_path: Path, wait_for: Any, lang: str
) -> None:
    scene = busy_morning(console, tmp_path / "disp-1", wait_for)
    try:
        # axe is injected as a script of its own: the console's policy would refuse it, rightly.
        screens = {
            ("suzuki", 1): ("/counter", "/desk", f"/case/{scene.at_input[0]}"),
            ("sato", None): ("/input",),
            ("kato", None): ("/floor",),
            ("admin", None): ("/admin/users", "/admin/audit"),
        }
        found: dict[str, Any] = {}
        signin = new_context(browser, contexts, lang, bypass_csp=True).new_page()
        signin.goto(console.url + "signin")
        found["/signin"] = axe_violations(signin)
        for (user, counter), paths in screens.items():
            page = sign_in(new_context(browser, contexts, lang, bypass_csp=True), console, user, counter)
            for path in paths:
                page.goto(console.url + path.lstrip("/"))
                assert page.locator("html").get_attribute("lang") == lang
                if path == "/counter":  # the pages had alerts to check
                    assert "disp-1" in page.locator("#p-alerts").inner_text()
                found[path] = axe_violations(page)
        bad = {path: v for path, v in found.items() if v}
        assert bad == {}, bad
    finally:
        scene.dispenser.close()  # type: ignore[attr-defined]


def test_the_axe_run_would_report_a_violation(
    console: Console, browser: Browser, contexts: list[BrowserContext]
) -> None:
    """The check above can fail: a faint text and an unlabelled field on a console page are found."""
    page = sign_in(new_context(browser, contexts, bypass_csp=True), console, "suzuki", 1)
    page.goto(console.url + "counter")
    page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend',"
        " '<p style=\"color:#bbb;background:#ccc\">faint</p><input type=text>')"
    )
    ids = {v["id"] for v in axe_violations(page)}
    assert {"color-contrast", "label"} <= ids, ids


def focused(page: Page) -> dict[str, Any]:
    return dict(
        page.evaluate(
            "(() => { const e = document.activeElement; const s = getComputedStyle(e);"
            " return {act: e.getAttribute('data-act'), id: e.id, tag: e.tagName,"
            " outline: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor}; })()"
        )
    )


def test_the_counter_works_from_the_keyboard_alone(
    console: Console, browser: Browser, contexts: list[BrowserContext]
) -> None:
    first, number = issue(console)
    page = open_live(sign_in(new_context(browser, contexts), console, "suzuki", 1), console, "/counter")
    page.locator("body").click(position={"x": 5, "y": 300})  # nothing focused: start from the page
    page.evaluate("document.activeElement && document.activeElement.blur()")

    # Tab reaches "Call next", with a focus ring one can see.
    steps = []
    for _ in range(30):
        page.keyboard.press("Tab")
        steps.append(focused(page))
        if steps[-1]["act"] == "call_next":
            break
    assert steps[-1]["act"] == "call_next", steps
    assert steps[-1]["outline"] == "solid" and steps[-1]["width"] >= 2, steps[-1]
    assert all(s["outline"] == "solid" for s in steps), steps  # every stop on the way shows too

    # N: call next (the focus is on a button, not in a field, so the letter is a shortcut)
    page.keyboard.press("n")
    card = page.locator("#p-current .card")
    expect(card.locator(".number")).to_have_text(str(number), timeout=LIVE_MS)
    expect(card.locator(".status")).to_have_text("called")
    # S: start; then C: to the number field
    page.keyboard.press("s")
    expect(card.locator(".status")).to_have_text("in progress", timeout=LIVE_MS)
    page.keyboard.press("c")
    assert focused(page)["id"] == "call-number"
    page.keyboard.type("10")
    # a change arrives while the clerk is typing: the field keeps the digits and the focus
    _, other = issue(console, "certificates")
    expect(page.locator("#p-queue")).to_contain_text(str(other), timeout=LIVE_MS)
    page.keyboard.type("0")
    assert page.locator("#call-number").input_value() == "100"
    assert focused(page)["id"] == "call-number"
    # letters typed in the field are text, not shortcuts: "n" called nobody
    assert page.locator("#p-current .card .number").inner_text() == str(number)
    page.keyboard.press("Escape")  # leave the field; the letters are shortcuts again
    # D: complete the case at the counter
    page.keyboard.press("d")
    # the finished case leaves the counter's card and waits among its others, ready to hand over
    ready = page.locator("#p-current .others li", has_text=str(number))
    expect(ready.locator(".status")).to_have_text("ready", timeout=LIVE_MS)
    expect(page.locator("#p-current .card")).to_have_count(0)
    ticket = console.office.db.ticket(first)
    assert ticket is not None and ticket.status.value == "ready"
    assert not_reloaded(page)


# --------------------------------------------------------------------------------------------
# 7. bad input
# --------------------------------------------------------------------------------------------


def test_bad_input_is_one_sentence_in_japanese_and_a_forbidden_page_is_plain(
    console: Console, browser: Browser, contexts: list[BrowserContext]
) -> None:
    page = open_live(sign_in(new_context(browser, contexts, "ja"), console, "suzuki", 1), console, "/counter")
    page.locator("#call-number").press_sequentially("11o5")
    page.keyboard.press("Enter")
    answer = said(page)
    assert answer.startswith("「11o5」は番号ではありません"), answer
    assert one_sentence(answer), answer
    assert page.locator("#said").get_attribute("class") == "said refused"
    assert page.locator("#call-number").input_value() == "11o5"  # kept, to be corrected
    assert not_reloaded(page)

    response = page.goto(console.url + "admin/users")
    assert response is not None and response.status == 403
    assert page.locator("p.error").inner_text() == "この画面を開く権限がありません。"
    assert page.locator("html").get_attribute("lang") == "ja"
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and "Exception" not in body
    assert page.locator("form, nav.main-nav, table").count() == 0  # nothing of the users' page
