"""The resident's page as a web app, in-process (Starlette's TestClient): the feed endpoint (its
secret, bad feeds, versions, full and partial feeds, removals, a new day, the day's end), the
pages (language, links, the one 404 page, headers, size) and what they never show."""

from __future__ import annotations

import base64
import configparser
import hashlib
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grimp
import msgspec
import pytest

from common.validation import decode_json
from public.app import Settings, create_app
from public.feed import Held, expires_ms
from public.hub import Hub
from public.pages import Pages
from public_harness import (
    SECRET,
    SITE,
    ZONE,
    auth,
    encode,
    feed,
    leaks,
    next_day,
    now_ms,
    purposes,
    ticket,
    today,
    tokens,
)
from sync.messages import PublicFeed, PublicStop
from sync.tokens import ticket_key

with warnings.catch_warnings():
    # Starlette would rather its test client ran on httpx2; httpx is what setup.cfg installs.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

REPO = Path(__file__).resolve().parents[1]
TOK = tokens(8)


class Clock:
    """The server's clock, moved by the test."""

    def __init__(self) -> None:
        self.ms = now_ms()

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(clock: Clock) -> Hub:
    return Hub(Held(), ZONE, 3, clock)


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    app = create_app(hub, Pages(), Settings(SECRET.encode(), max_feed_bytes=200_000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(app, raise_server_exceptions=True) as c:
            yield c


def post(client: TestClient, doc: PublicFeed | bytes, secret: str = SECRET) -> Any:
    return client.post("/feed", content=doc if isinstance(doc, bytes) else encode(doc), headers=auth(secret))


def first_day(client: TestClient) -> None:
    tickets = [
        ticket(TOK[0], 1012, people_ahead=3, est_wait_min=6),
        ticket(TOK[1], 2003, "certificates", status="called", reached=1, counter_no=3),
        ticket(TOK[2], 3001, "family_register", status="in_progress", reached=2),
    ]
    assert post(client, feed(10, tickets, full=True, with_purposes=purposes())).json()["accepted"]


# --------------------------------------------------------------------------------------------
# the feed endpoint
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-secret-0123456789"},
        {"Authorization": f"Basic {SECRET}"},
        {"Authorization": f"Bearer {SECRET}x"},
        {"Authorization": f"Bearer {SECRET[:-1]}"},
    ],
    ids=["none", "wrong", "basic", "longer", "shorter"],
)
def test_a_feed_without_the_secret_is_refused_and_changes_nothing(
    client: TestClient, hub: Hub, headers: dict[str, str]
) -> None:
    response = client.post("/feed", content=encode(feed(1, [ticket(TOK[0], 1001)], full=True)), headers=headers)
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
    assert hub.held.version is None and hub.stats["feeds_unauthorised"] == 1
    assert client.get(f"/t/{TOK[0]}").status_code == 404
    assert client.get("/feed", headers=headers).status_code == 401


def test_a_bad_feed_is_a_400_naming_the_key_and_is_counted(client: TestClient, hub: Hub) -> None:
    first_day(client)
    doc = msgspec.to_builtins(feed(11, [ticket(TOK[3], 1013)]))
    doc["tickets"][0]["key"] = "not-a-hash"
    response = post(client, json.dumps(doc).encode())
    assert response.status_code == 400
    assert response.json()["path"] == "tickets[0].key"
    assert response.json()["error"].startswith("tickets[0].key: expected the SHA-256 of a ticket's token")
    doc = msgspec.to_builtins(feed(11, []))
    doc["purposes"] = [{"code": "moving", "name": {}, "waiting": 1, "level": "purple"}]
    response = post(client, json.dumps(doc).encode())
    assert response.status_code == 400 and response.json()["path"] == "purposes[0].level"
    assert post(client, b"{not json").status_code == 400
    assert post(client, b'["a list"]').status_code == 400
    assert hub.stats["feeds_bad"] == 4 and hub.held.version == 10
    assert client.get("/feed", headers=auth()).json()["stats"]["feeds_bad"] == 4


def test_a_feed_over_the_size_limit_is_refused_unread(client: TestClient, hub: Hub) -> None:
    many = [ticket(t, 1000 + i) for i, t in enumerate(tokens(400, seed=3))]
    body = encode(feed(1, many, full=True))
    assert len(body) > 200_000
    assert post(client, body).status_code == 413
    assert hub.stats["feeds_too_large"] == 1 and hub.held.version is None


def test_a_version_at_or_below_the_held_one_is_answered_200_and_ignored(client: TestClient, hub: Hub) -> None:
    first_day(client)
    for version in (10, 9):
        response = post(client, feed(version, [], full=True))
        assert response.status_code == 200
        assert response.json() == {
            "accepted": False,
            "version": 10,
            "tickets": 3,
            "note": f"version {version} is not newer than 10",
        }
    assert client.get(f"/t/{TOK[0]}").status_code == 200
    assert hub.stats["feeds_ignored"] == 2


def test_partial_feeds_upsert_and_remove_and_a_full_one_replaces(client: TestClient) -> None:
    first_day(client)
    called = ticket(TOK[0], 1012, status="called", reached=1, counter_no=4)
    assert post(client, feed(11, [called, ticket(TOK[3], 1013)], removed=[ticket_key(TOK[2])])).status_code == 200
    page = client.get(f"/t/{TOK[0]}", params={"lang": "ja"}).text
    assert "4番窓口（ローカウンター）へお越しください" in page
    assert client.get(f"/t/{TOK[3]}").status_code == 200
    assert client.get(f"/t/{TOK[2]}").status_code == 404
    assert client.get(f"/t/{TOK[1]}").status_code == 200  # untouched by a partial feed
    assert post(client, feed(12, [ticket(TOK[4], 1014)], full=True)).json()["tickets"] == 1
    assert [client.get(f"/t/{t}").status_code for t in TOK[:5]] == [404, 404, 404, 404, 200]


def test_a_new_business_day_forgets_the_old_days_pages(client: TestClient) -> None:
    first_day(client)
    assert post(client, feed(11, [ticket(TOK[5], 1001)], day=next_day(today()))).status_code == 200
    assert [client.get(f"/t/{t}").status_code for t in (TOK[0], TOK[1], TOK[5])] == [404, 404, 200]


def test_pages_close_when_the_business_day_ends(client: TestClient, hub: Hub, clock: Clock) -> None:
    first_day(client)
    assert client.get(f"/t/{TOK[0]}").status_code == 200
    clock.ms = expires_ms(today(), ZONE, 3)
    assert client.get(f"/t/{TOK[0]}").status_code == 404
    assert "本日の情報はまだありません。" in client.get("/congestion").text
    hub.expire()
    assert hub.held.tickets == {} and hub.held.version == 10


def test_malformed_unknown_and_expired_addresses_get_the_same_plain_404(client: TestClient, clock: Clock) -> None:
    first_day(client)
    pages = {
        "malformed": client.get("/t/this-is-not-a-token"),
        "guessed": client.get(f"/t/{TOK[7]}"),
        "other path": client.get("/t/"),
    }
    clock.ms = expires_ms(today(), ZONE, 3) + 1
    pages["expired"] = client.get(f"/t/{TOK[0]}")
    bodies = {name: r.content for name, r in pages.items()}
    assert all(r.status_code == 404 for r in pages.values())
    assert len(set(bodies.values())) == 1, "the 404 pages differ"
    headers = {name: {k: v for k, v in r.headers.items() if k != "date"} for name, r in pages.items()}
    assert len({json.dumps(h, sort_keys=True) for h in headers.values()}) == 1
    text = pages["expired"].text
    assert "このページは表示できません" in text and SITE.office_name not in text and "<script" not in text


# --------------------------------------------------------------------------------------------
# the pages
# --------------------------------------------------------------------------------------------


def test_the_ticket_page_shows_the_number_the_purpose_and_the_line(client: TestClient) -> None:
    first_day(client)
    page = client.get(f"/t/{TOK[0].lower()}").text
    assert '<span class="num">1012</span>' in page and "転入・転出・転居" in page
    assert "あなたの前に3人お待ちです" in page and "待ち時間の目安：約6分" in page
    assert re.findall(r'<span class="name">([^<]+)</span>', page) == ["発券", "受付", "入力", "審査", "交付", "完了"]
    assert 'aria-current="step"' in page and SITE.office_name in page
    assert f'data-events="/t/{TOK[0]}/events?lang=ja"' in page and 'data-poll="20"' in page
    called = client.get(f"/t/{TOK[1]}", params={"lang": "en"}).text
    assert '<p class="call">Please come to Counter 3</p>' in called


@pytest.mark.parametrize(
    "params, header, lang, marker",
    [
        ({"lang": "en"}, "ja", "en", "3 people ahead of you"),
        ({}, "ko-KR,ko;q=0.9,en;q=0.8", "ko", "앞에 3명이 기다리고 있습니다"),
        ({}, "zh-CN,zh;q=0.9", "zh-CN", "您前面还有3人"),
        ({"lang": "vi"}, None, "vi", "Có 3 người chờ trước quý vị"),
        ({}, "pt-BR", "pt-BR", "3 pessoas na sua frente"),
        ({}, None, "ja", "あなたの前に3人お待ちです"),
    ],
)
def test_the_language_is_chosen_by_query_then_accept_language(
    client: TestClient, params: dict[str, str], header: str | None, lang: str, marker: str
) -> None:
    first_day(client)
    headers = {"Accept-Language": header} if header else {}
    response = client.get(f"/t/{TOK[0]}", params=params, headers=headers)
    assert f'<html lang="{lang}">' in response.text and marker in response.text
    assert response.headers["vary"] == "Accept-Language"


def test_the_language_bar_names_each_language_in_itself_and_links_keep_the_choice(client: TestClient) -> None:
    first_day(client)
    page = client.get(f"/t/{TOK[0]}", params={"lang": "ko"}).text
    bar = re.findall(
        r'<a href="\?lang=(\w+)" lang="([\w-]+)" hreflang="[\w-]+"( aria-current="true")?>([^<]+)</a>', page
    )
    assert [(code, name) for code, _, _, name in bar] == [
        ("ja", "日本語"),
        ("en", "English"),
        ("zh_CN", "简体中文"),
        ("ko", "한국어"),
        ("vi", "Tiếng Việt"),
        ("pt", "Português"),
    ]
    assert [code for code, _, current, _ in bar if current] == ["ko"]
    assert 'href="/congestion?lang=ko"' in page and 'href="?lang=ko"' in page
    assert "events?lang=ko" in page
    redirect = client.get("/?lang=en", follow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["location"] == "/congestion?lang=en"


def test_the_congestion_page_words_every_purpose(client: TestClient) -> None:
    first_day(client)
    page = client.get("/congestion", params={"lang": "en"}).text
    assert page.count("<h2>") == len(SITE.categories)
    for level, words in (("green", "Not busy"), ("yellow", "Fairly busy"), ("red", "Very busy")):
        if any(p.level == level for p in purposes()):
            assert f'<p class="badge {level}">{words}</p>' in page
    assert "Last number called" in page and "Estimated wait" in page and 'data-events="/congestion/events?lang=en"'


def test_every_page_allows_only_its_own_inline_style_and_script(client: TestClient) -> None:
    first_day(client)
    for path in (f"/t/{TOK[0]}", "/congestion", "/t/nothing"):
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        for tag, directive in (("style", "style-src"), ("script", "script-src")):
            for inline in re.findall(rf"<{tag}>(.*?)</{tag}>", response.text, flags=re.DOTALL):
                digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
                assert f"{directive} 'sha256-{digest}'" in csp
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        assert "set-cookie" not in response.headers
        assert not re.search(r'(src|href|action)="(https?:)?//', response.text), "an external address"
        assert "<img" not in response.text and "@import" not in response.text
        assert re.findall(r"<link[^>]*>", response.text) == ['<link rel="icon" href="data:,">']


def test_a_long_route_in_japanese_is_far_under_50_kb(client: TestClient) -> None:
    stations = [
        PublicStop(
            code=f"s{i}", name={"ja": f"第{i + 1}審査係（国民健康保険・年金・介護保険）"}, reached_ms=now_ms() - 60_000
        )
        for i in range(32)
    ]
    long = msgspec.structs.replace(ticket(TOK[6], 9999, "death", status="in_progress"), stops=tuple(stations))
    assert post(client, feed(1, [long], full=True, with_purposes=purposes())).status_code == 200
    page = client.get(f"/t/{TOK[6]}")
    assert page.status_code == 200 and page.text.count('<li class="') == 33
    assert len(page.content) < 50 * 1024, len(page.content)
    assert len(client.get("/congestion").content) < 50 * 1024


# --------------------------------------------------------------------------------------------
# nothing personal
# --------------------------------------------------------------------------------------------


def test_the_needles_would_be_found() -> None:
    """The privacy checks below can fail: a resident's data in a page is found."""
    from certificates.registry import demo_registry

    someone = next(iter(demo_registry().residents.values()))
    assert leaks(f"<p>{someone.name}</p>") and leaks(someone.my_number) and leaks(someone.address)
    assert leaks(f"{someone.birth_date.year}年{someone.birth_date.month}月{someone.birth_date.day}日")


def test_no_page_holds_a_residents_data_even_when_a_feed_carries_it(client: TestClient, hub: Hub) -> None:
    """A careless office that puts residents' data beside a ticket: the public side drops every
    field the model does not have, so no page, figure or kept value holds it."""
    from certificates.registry import demo_registry

    residents = list(demo_registry().residents.values())
    statuses = ("waiting", "called", "in_progress", "held", "ready", "done", "absent", "void")
    tickets = []
    for i, category in enumerate(SITE.categories):
        for j, status in enumerate(statuses):
            tk = ticket(
                tokens(80, seed=11)[i * 8 + j],
                category.first + j,
                category.code,
                status=status,  # type: ignore[arg-type]
                reached=j % len(category.route),
                people_ahead=j,
                est_wait_min=j * 2,
                counter_no=(j % 4) + 1 if status in ("called", "ready") else None,
            )
            tickets.append(tk)
    doc = msgspec.to_builtins(feed(1, tickets, full=True, with_purposes=purposes()))
    for i, raw in enumerate(doc["tickets"]):
        r = residents[i % len(residents)]
        raw |= {
            "name": r.name,
            "kana": r.kana,
            "address": r.address,
            "birth_date": r.birth_date.isoformat(),
            "my_number": r.my_number,
            "procedures": ["住民異動届"],
        }
    assert post(client, json.dumps(doc, ensure_ascii=False).encode()).json()["accepted"]
    assert len(hub.held.tickets) == len(tickets)
    seen = []
    for lang in ("ja", "en", "zh_CN", "ko", "vi", "pt"):
        for i in range(len(tickets)):
            seen.append(client.get(f"/t/{tokens(80, seed=11)[i]}", params={"lang": lang}))
        seen.append(client.get("/congestion", params={"lang": lang}))
        seen.append(client.get(f"/t/{TOK[7]}", params={"lang": lang}))
    assert {r.status_code for r in seen} == {200, 404}
    for response in seen:
        assert not leaks(response.text), leaks(response.text)
        assert "住民異動届" not in response.text
    assert not leaks(encode(feed(1, list(hub.held.tickets.values()))).decode())


# --------------------------------------------------------------------------------------------
# the contract, the docs and the dependencies
# --------------------------------------------------------------------------------------------


def _doc_section() -> str:
    text = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
    start = text.index("## The resident's page feed (office -> madoguchi-public)")
    end = text.find("\n## ", start + 5)
    return text[start : end if end > 0 else len(text)]


def test_the_protocol_doc_names_every_feed_field_and_its_example_decodes() -> None:
    section = _doc_section()
    named = set(re.findall(r"`([a-z_]+)`", section))
    fields: set[str] = set()

    def walk(t: Any) -> None:
        if isinstance(t, msgspec.inspect.StructType):
            for f in t.fields:
                fields.add(f.encode_name)
                walk(f.type)
        elif isinstance(t, msgspec.inspect.Metadata):
            walk(t.type)
        elif isinstance(t, msgspec.inspect.VarTupleType | msgspec.inspect.ListType):
            walk(t.item_type)
        elif isinstance(t, msgspec.inspect.UnionType):
            for option in t.types:
                walk(option)

    walk(msgspec.inspect.type_info(PublicFeed))
    assert not fields - named, sorted(fields - named)
    examples = re.findall(r"```json\n(.*?)```", section, flags=re.DOTALL)
    assert examples
    for example in examples:
        decoded = decode_json(example.encode(), msgspec.json.Decoder(PublicFeed))
        assert decoded.tickets and decoded.purposes


def test_the_console_script_is_declared() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    scripts = cfg["options.entry_points"]["console_scripts"]
    assert "madoguchi-public = public.cli:main" in scripts


def test_the_public_package_imports_nothing_of_the_office_or_another_app() -> None:
    graph = grimp.build_graph(
        "public", "office", "kiosk", "ticket_dispenser", "display_board", "common", "sync", cache_dir=None
    )
    for module in graph.find_children("public") | {"public"}:
        reached = graph.find_upstream_modules(module)
        bad = {m for m in reached if m.split(".")[0] in ("office", "kiosk", "ticket_dispenser", "display_board")}
        assert not bad, f"{module} reaches {sorted(bad)}"
