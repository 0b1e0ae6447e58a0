"""The resident's page in a real browser: Debian's Chromium driven by Playwright, on a 390 x 844
phone, against ``madoguchi-public serve`` running as a real process fed over HTTP.

The page follows its ticket without reloading (server-sent events), falls back to polling when
the stream cannot be had, works without JavaScript, loads nothing but itself, can be used with
the keyboard alone, and axe-core (vendored, tests/vendor/axe-core) finds no WCAG 2.0 A/AA
violation on the ticket and congestion pages in Japanese and English.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright

from public_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    PublicProcess,
    auth,
    feed,
    purposes,
    start_public,
    ticket,
    tokens,
)

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
TOK = tokens(40, seed=99)
_version = iter(range(1, 10_000))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PublicProcess]:
    """One process for the module; pages poll every second when they poll (20 s by default)."""
    proc = start_public(tmp_path_factory.mktemp("public"), "--poll-seconds", "1")
    try:
        yield proc
    finally:
        proc.stop()


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


def phone(browser: Browser, **options: Any) -> BrowserContext:
    """A phone set to Japanese (its Accept-Language), as most residents' are."""
    return browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="ja-JP", **options)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = phone(browser)
    try:
        yield ctx
    finally:
        ctx.close()


def push(server: PublicProcess, *tickets: Any, full: bool = False) -> None:
    response = server.post(feed(next(_version), tickets, full=full, with_purposes=purposes(busy=next(_version) % 5)))
    assert response.status_code == 200 and response.json()["accepted"], response.text


def streams(server: PublicProcess) -> int:
    return int(server.get("/feed", headers=auth()).json()["streams"])


def wait_streams(server: PublicProcess, at_least: int) -> None:
    deadline = time.monotonic() + 10
    while streams(server) < at_least:
        assert time.monotonic() < deadline, "the page did not open its event stream"
        time.sleep(0.05)


def mark(page: Page) -> None:
    """A value a reload would lose."""
    page.evaluate("window.__notReloaded = 'yes'")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__notReloaded === 'yes'"))


# --------------------------------------------------------------------------------------------
# live updates
# --------------------------------------------------------------------------------------------


def test_the_page_shows_the_ticket_then_the_call_without_reloading(
    server: PublicProcess, context: BrowserContext
) -> None:
    token = TOK[0]
    push(server, ticket(token, 1012, people_ahead=3, est_wait_min=6))
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    before = streams(server)
    page.goto(f"{server.url}/t/{token}")
    assert page.locator(".num").inner_text() == "1012"
    assert "あなたの前に3人お待ちです" in page.locator("#live").inner_text()
    wait_streams(server, before + 1)
    mark(page)
    push(server, ticket(token, 1012, status="called", reached=1, counter_no=4))
    page.wait_for_selector("p.call", timeout=10_000)
    assert page.locator("p.call").inner_text() == "4番窓口（ローカウンター）へお越しください"
    assert not_reloaded(page), "the page reloaded instead of updating"
    # the live region says it once, for screen readers
    assert page.locator("#say").inner_text() == "お呼び出しです 4番窓口（ローカウンター）へお越しください"
    assert page.locator("#say").get_attribute("aria-live") == "polite"
    assert not problems, problems  # no CSP refusal, no script error


def test_a_closed_day_turns_an_open_page_into_the_plain_404(server: PublicProcess, context: BrowserContext) -> None:
    token = TOK[1]
    push(server, ticket(token, 1013, people_ahead=1))
    page = context.new_page()
    before = streams(server)
    page.goto(f"{server.url}/t/{token}?lang=en")
    wait_streams(server, before + 1)
    push(server, ticket(TOK[2], 1014), full=True)  # the office forgets the ticket
    page.wait_for_selector("text=This page cannot be shown", timeout=10_000)
    assert page.locator(".num").count() == 0


@pytest.mark.parametrize("how", ["EventSource missing", "stream refused"])
def test_polling_takes_over_when_the_stream_fails(server: PublicProcess, browser: Browser, how: str) -> None:
    token = TOK[3] if how == "EventSource missing" else TOK[4]
    push(server, ticket(token, 1015, people_ahead=2, est_wait_min=4))
    ctx = phone(browser)
    requested: list[str] = []
    try:
        if how == "EventSource missing":
            ctx.add_init_script("delete window.EventSource;")
        page = ctx.new_page()
        if how == "stream refused":

            def cut(route: Route) -> None:
                requested.append(route.request.url)
                route.abort()

            page.route("**/events*", cut)
        page.goto(f"{server.url}/t/{token}?lang=en")
        mark(page)
        push(server, ticket(token, 1015, status="ready", reached=5, counter_no=2))
        page.wait_for_selector("p.call", timeout=10_000)
        assert page.locator("p.call").inner_text() == "Please come to Counter 2"
        assert not_reloaded(page)
        assert page.locator("#say").inner_text() == "Everything is ready Please come to Counter 2"
        if how == "stream refused":
            assert requested, "the page never tried the event stream"
    finally:
        ctx.close()


def test_without_javascript_the_refresh_link_shows_the_news(server: PublicProcess, browser: Browser) -> None:
    token = TOK[5]
    push(server, ticket(token, 1016, people_ahead=5, est_wait_min=10))
    ctx = phone(browser, java_script_enabled=False)
    try:
        page = ctx.new_page()
        page.goto(f"{server.url}/t/{token}?lang=en")
        assert "5 people ahead of you" in page.locator("#live").inner_text()
        push(server, ticket(token, 1016, status="called", reached=1, counter_no=3))
        page.get_by_role("link", name="Refresh").click()
        page.wait_for_selector("p.call")
        assert page.locator("p.call").inner_text() == "Please come to Counter 3"
        assert page.url.endswith(f"/t/{token}?lang=en")
    finally:
        ctx.close()


# --------------------------------------------------------------------------------------------
# what it loads
# --------------------------------------------------------------------------------------------


def test_the_page_loads_nothing_but_itself_and_its_stream(server: PublicProcess, context: BrowserContext) -> None:
    token = TOK[6]
    push(server, ticket(token, 5001, "death", people_ahead=12, est_wait_min=25))
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    response = page.goto(f"{server.url}/t/{token}")
    assert response is not None
    page.wait_for_load_state("networkidle")
    body = response.body()
    assert len(body) < 50 * 1024
    others = [u for u in requests if not u.startswith(f"{server.url}/t/{token}")]
    assert not others, others  # no font, style sheet, script, image or favicon from anywhere
    assert page.evaluate("document.cookie") == ""


# --------------------------------------------------------------------------------------------
# accessibility
# --------------------------------------------------------------------------------------------


def axe_violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}, resultTypes: ['violations']})"
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["html"][:120] for n in v["nodes"][:3]]}
        for v in result["violations"]
    ]


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("state", ["waiting", "called", "in_progress", "congestion", "not found"])
def test_axe_finds_no_wcag_2_aa_violation(server: PublicProcess, browser: Browser, lang: str, state: str) -> None:
    token = TOK[10 + ["waiting", "called", "in_progress", "congestion", "not found"].index(state)]
    tickets = {
        "waiting": ticket(token, 1020, people_ahead=4, est_wait_min=9),
        "called": ticket(token, 2020, "certificates", status="called", reached=1, counter_no=4),
        "in_progress": ticket(token, 3020, "family_register", status="in_progress", reached=2),
    }
    if state in tickets:
        push(server, tickets[state])
    path = {"congestion": "/congestion", "not found": f"/t/{TOK[39]}"}.get(state, f"/t/{token}")
    # axe is injected as a script of its own: the page's policy would refuse it, rightly.
    ctx = phone(browser, bypass_csp=True)
    try:
        page = ctx.new_page()
        page.goto(f"{server.url}{path}?lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang
        violations = axe_violations(page)
        assert violations == [], violations
    finally:
        ctx.close()


def test_the_axe_run_would_report_a_violation(server: PublicProcess, browser: Browser) -> None:
    """The check above can fail: a grey-on-grey text and an unlabelled control are found."""
    ctx = phone(browser, bypass_csp=True)
    try:
        page = ctx.new_page()
        page.goto(f"{server.url}/congestion?lang=en")
        page.evaluate(
            "document.querySelector('main').insertAdjacentHTML('beforeend',"
            " '<p style=\"color:#bbb;background:#ccc\">faint</p><input type=text>')"
        )
        ids = {v["id"] for v in axe_violations(page)}
        assert {"color-contrast", "label"} <= ids, ids
    finally:
        ctx.close()


def test_the_language_switch_is_reached_and_used_with_the_keyboard(
    server: PublicProcess, context: BrowserContext
) -> None:
    token = TOK[20]
    push(server, ticket(token, 1030, people_ahead=2, est_wait_min=4))
    page = context.new_page()
    page.goto(f"{server.url}/t/{token}")
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const e = document.activeElement; const s = getComputedStyle(e);"
            " return {text: e.textContent, tag: e.tagName, outline: s.outlineStyle, width: s.outlineWidth}; })()"
        )
        reached.append(focused)
        if focused["text"] == "English":
            break
    assert reached[0]["text"] == "日本語" and reached[-1]["text"] == "English", reached
    # the focus is visible: a solid outline at least 2 px wide
    assert all(f["tag"] == "A" and f["outline"] == "solid" and float(f["width"].rstrip("px")) >= 2 for f in reached)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/t/{token}?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "2 people ahead of you" in page.locator("#live").inner_text()
    # every link of the page is reachable: language bar, refresh, the congestion page
    links = page.locator("a").count()
    seen = set()
    for _ in range(links + 2):
        page.keyboard.press("Tab")
        seen.add(page.evaluate("document.activeElement.getAttribute('href')"))
    assert {"?lang=en", "/congestion?lang=en"} <= seen, seen
