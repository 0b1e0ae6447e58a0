"""The resident's page, its pure core: what a feed does to the held state (versions, full and
partial feeds, removals, a new day, the day's end), the ticket look-up, the language choice,
and the words each page shows - no server, no clock."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grimp
import msgspec
import pytest

from public import feed as feedmod
from public.feed import Held, apply, expires_ms, forget_expired, is_live, to_feed
from public.hub import Keeper
from public.store import FeedFile, StoreError
from public.view import choose_language, congestion_view, not_found_view, ticket_view
from public_harness import SITE, ZONE, feed, purposes, ticket, tokens
from sync.messages import PublicCounter, PublicFeed, PublicTicket
from sync.tokens import ticket_key

REPO = Path(__file__).resolve().parents[1]
DAY = "2026-11-21"
# 10:00 in Tokyo on DAY
T0 = int(datetime(2026, 11, 21, 1, 0, tzinfo=UTC).timestamp() * 1000)
TOK = tokens(5)


def held_with(*docs: PublicFeed) -> Held:
    held = Held()
    for doc in docs:
        held = apply(held, doc).held
    return held


def t(i: int, **kwargs: Any) -> PublicTicket:
    return ticket(TOK[i], 1001 + i, issued_ms=T0, **kwargs)


# --------------------------------------------------------------------------------------------
# applying feeds
# --------------------------------------------------------------------------------------------


def test_a_full_feed_replaces_everything_held() -> None:
    held = held_with(feed(1, [t(0), t(1)], day=DAY, full=True, with_purposes=purposes()))
    assert set(held.tickets) == {ticket_key(TOK[0]), ticket_key(TOK[1])}
    applied = apply(held, feed(2, [t(2)], day=DAY, full=True))
    assert set(applied.held.tickets) == {ticket_key(TOK[2])}
    assert applied.everything and applied.changed == {ticket_key(TOK[i]) for i in range(3)}
    assert applied.held.purposes == ()  # a full feed without figures has none


def test_a_partial_feed_upserts_and_removes_and_keeps_the_rest() -> None:
    held = held_with(feed(1, [t(0), t(1)], day=DAY, full=True, with_purposes=purposes()))
    called = t(1, status="called", counter_no=3, reached=1)
    applied = apply(held, feed(2, [called, t(2)], day=DAY, removed=[ticket_key(TOK[0])]))
    assert applied.accepted and not applied.everything
    assert set(applied.held.tickets) == {ticket_key(TOK[1]), ticket_key(TOK[2])}
    assert applied.held.tickets[ticket_key(TOK[1])].status == "called"
    assert applied.changed == {ticket_key(TOK[0]), ticket_key(TOK[1]), ticket_key(TOK[2])}
    # no figures in the feed: the ones held stay, and the congestion page does not change
    assert applied.held.purposes == held.purposes and not applied.congestion


def test_an_unchanged_ticket_wakes_nobody() -> None:
    held = held_with(feed(1, [t(0)], day=DAY, full=True))
    applied = apply(held, feed(2, [t(0)], day=DAY))
    assert applied.accepted and applied.changed == frozenset()


def test_figures_in_a_partial_feed_replace_the_held_ones() -> None:
    held = held_with(feed(1, day=DAY, full=True, with_purposes=purposes(busy=0), sent_ms=T0))
    applied = apply(held, feed(2, day=DAY, with_purposes=purposes(busy=3), sent_ms=T0 + 60_000))
    assert applied.congestion and applied.held.purposes == purposes(busy=3)
    assert applied.held.purposes_ms == T0 + 60_000


@pytest.mark.parametrize("version", [5, 4, 0])
def test_a_version_at_or_below_the_held_one_is_ignored(version: int) -> None:
    held = held_with(feed(5, [t(0)], day=DAY, full=True))
    applied = apply(held, feed(version, [t(1)], day=DAY, full=True))
    assert not applied.accepted and applied.held is held
    assert "not newer than 5" in applied.reason


def test_a_new_business_day_forgets_the_old_days_tickets_even_in_a_partial_feed() -> None:
    held = held_with(feed(1, [t(0), t(1)], day=DAY, full=True, with_purposes=purposes()))
    applied = apply(held, feed(2, [t(2)], day="2026-11-22"))
    assert set(applied.held.tickets) == {ticket_key(TOK[2])}
    assert applied.everything and applied.held.business_day == "2026-11-22"
    assert applied.held.purposes == ()


def test_the_day_ends_at_the_rollover_hour_of_the_next_morning() -> None:
    end = expires_ms(DAY, ZONE, 3)
    assert datetime.fromtimestamp(end / 1000, ZONE).isoformat() == "2026-11-22T03:00:00+09:00"
    held = held_with(feed(1, [t(0)], day=DAY, full=True))
    assert is_live(held, end - 1, ZONE, 3) and not is_live(held, end, ZONE, 3)
    assert not is_live(Held(), T0, ZONE, 3)


def test_the_look_up_finds_a_live_ticket_by_its_token_in_any_case() -> None:
    held = held_with(feed(1, [t(0)], day=DAY, full=True))
    found = feedmod.ticket(held, TOK[0].lower(), T0, ZONE, 3)
    assert found is not None and found.number == 1001


@pytest.mark.parametrize(
    "token, when",
    [
        ("NOT-A-TOKEN", T0),  # malformed
        ("A" * 25, T0),  # too short
        (TOK[4], T0),  # well formed, unknown
        (TOK[0], expires_ms(DAY, ZONE, 3)),  # known, but its day has ended
    ],
    ids=["malformed", "short", "unknown", "expired"],
)
def test_malformed_unknown_and_expired_tokens_find_nothing(token: str, when: int) -> None:
    held = held_with(feed(1, [t(0)], day=DAY, full=True))
    assert feedmod.ticket(held, token, when, ZONE, 3) is None


def test_forgetting_an_ended_day_keeps_the_version_so_old_feeds_stay_refused() -> None:
    held = held_with(feed(7, [t(0)], day=DAY, full=True, with_purposes=purposes()))
    assert not forget_expired(held, T0, ZONE, 3).accepted
    applied = forget_expired(held, expires_ms(DAY, ZONE, 3), ZONE, 3)
    assert applied.accepted and applied.everything and applied.changed == {ticket_key(TOK[0])}
    assert applied.held.tickets == {} and applied.held.purposes == () and applied.held.version == 7
    assert not apply(applied.held, feed(7, [t(0)], day=DAY, full=True)).accepted


def test_the_held_state_round_trips_through_one_full_feed() -> None:
    held = held_with(feed(1, [t(0), t(1)], day=DAY, full=True, with_purposes=purposes()), feed(2, [t(2)], day=DAY))
    again = held_with(to_feed(held))
    assert dict(again.tickets) == dict(held.tickets) and again.version == 2 and again.purposes == held.purposes
    assert to_feed(Held()) is None


# --------------------------------------------------------------------------------------------
# the file on disk
# --------------------------------------------------------------------------------------------


def test_the_feed_file_keeps_the_last_feed_and_moves_a_bad_one_aside(tmp_path: Path) -> None:
    doc = feed(3, [t(0)], day=DAY, full=True)
    with FeedFile(tmp_path / "data") as file:
        assert file.load() is None
        file.save(doc)
        assert file.load() == doc
        assert not list((tmp_path / "data").glob("*.tmp"))
        file.path.write_bytes(b'{"site": "demo-town", "version": "x"}')
        assert file.load() is None
        assert (tmp_path / "data" / "feed.bad").exists() and not file.path.exists()


def test_a_second_process_cannot_take_the_data_directory(tmp_path: Path) -> None:
    with FeedFile(tmp_path), pytest.raises(StoreError, match="another madoguchi-public"):
        FeedFile(tmp_path).lock()


def test_the_keeper_writes_the_newest_value(tmp_path: Path) -> None:
    with FeedFile(tmp_path) as file:
        keeper = Keeper(file)
        keeper.start()
        for version in range(1, 30):
            keeper.changed(held_with(feed(version, [t(version % 3)], day=DAY, full=True)))
        keeper.stop()
        kept = file.load()
    assert kept is not None and kept.version == 29 and keeper.failures == 0
    assert 1 <= keeper.writes <= 29


# --------------------------------------------------------------------------------------------
# the language
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, header, expected",
    [
        ("en", "ja", ("en", True)),
        ("zh-CN", None, ("zh_CN", True)),
        ("PT", None, ("pt", True)),
        ("xx", "ko-KR,ko;q=0.9", ("ko", False)),
        (None, "fr-FR, vi;q=0.8, en;q=0.5", ("vi", False)),
        (None, "en;q=0.2, pt-BR;q=0.9", ("pt", False)),
        (None, "zh-TW,zh;q=0.9", ("zh_CN", False)),
        (None, "fr, de", ("ja", False)),
        (None, "en;q=0", ("ja", False)),
        (None, None, ("ja", False)),
    ],
)
def test_the_language_comes_from_the_query_then_accept_language_then_japanese(
    query: str | None, header: str | None, expected: tuple[str, bool]
) -> None:
    assert choose_language(query, header) == expected


# --------------------------------------------------------------------------------------------
# the words of the pages
# --------------------------------------------------------------------------------------------


def test_a_waiting_ticket_shows_people_ahead_and_the_wait_on_its_line() -> None:
    held = held_with(feed(1, [t(0, people_ahead=3, est_wait_min=6)], day=DAY, full=True))
    ja = ticket_view(held, held.tickets[ticket_key(TOK[0])], "ja", ZONE)
    assert ja.number == 1001 and ja.purpose == "転入・転出・転居"
    assert ja.headline == "番号をお呼びするまでお待ちください"
    assert ja.details[:2] == ("あなたの前に3人お待ちです", "待ち時間の目安：約6分")
    assert [s.name for s in ja.stops] == ["発券", "受付", "入力", "審査", "交付", "完了"]
    assert [s.state for s in ja.stops] == ["current", "ahead", "ahead", "ahead", "ahead", "ahead"]
    assert ja.stops[0].time == "10:00" and ja.stops[0].note == "現在地"
    en = ticket_view(held, held.tickets[ticket_key(TOK[0])], "en", ZONE)
    assert en.details[:2] == ("3 people ahead of you", "Estimated wait: about 6 minutes")
    one = ticket_view(
        held_with(feed(1, [t(0, people_ahead=1, est_wait_min=1)], day=DAY, full=True)),
        ticket(TOK[0], 1001, people_ahead=1, est_wait_min=1),
        "pt",
        ZONE,
    )
    assert one.details[:2] == ("1 pessoa na sua frente", "Espera estimada: cerca de 1 minuto")


def test_a_called_ticket_says_which_counter_with_its_name_in_the_language() -> None:
    called = t(0, status="called", counter_no=3, reached=1)
    held = held_with(feed(1, [called], day=DAY, full=True))
    ja = ticket_view(held, called, "ja", ZONE)
    assert ja.tone == "call" and ja.call == "3番窓口へお越しください"
    assert ja.say == "お呼び出しです 3番窓口へお越しください"
    assert ticket_view(held, called, "ko", ZONE).call == "3번 창구에 와 주세요"
    assert [s.state for s in ja.stops][:3] == ["passed", "current", "ahead"]
    assert ja.stops[1].time == "10:07"


def test_a_counter_name_without_its_number_gets_the_number_and_a_missing_one_our_words() -> None:
    room = msgspec.structs.replace(
        t(0, status="called", reached=1),
        counter=PublicCounter(number=5, name={"ja": "相談室", "en": "Consultation room"}),
    )
    assert ticket_view(Held(), room, "ja", ZONE).call == "5番窓口（相談室）へお越しください"
    assert ticket_view(Held(), room, "en", ZONE).call == "Please come to counter 5 (Consultation room)"
    assert ticket_view(Held(), room, "zh_CN", ZONE).call == "请到5号窗口"  # no Chinese name: the number in Chinese


def test_an_unnamed_counter_is_said_by_its_number() -> None:
    ready = t(0, status="ready", counter_no=9, reached=5)
    assert ticket_view(Held(), ready, "en", ZONE).call == "Please come to counter 9"
    assert ticket_view(Held(), ready, "en", ZONE).headline == "Everything is ready"


@pytest.mark.parametrize(
    "status, reached, headline",
    [
        ("in_progress", 3, "手続きを進めています"),
        ("held", 2, "手続きを少しお待ちいただいています"),
        ("absent", 1, "お呼びしましたが、お見えになりませんでした"),
        ("done", 5, "手続きはすべて終わりました"),
        ("void", 0, "この番号札は使われなくなりました"),
    ],
)
def test_every_other_status_is_worded_kindly(status: str, reached: int, headline: str) -> None:
    tk = t(0, status=status, reached=reached)
    view = ticket_view(Held(), tk, "ja", ZONE)
    assert view.headline == headline and view.call == "" and view.details
    if status == "in_progress":
        assert view.details[1] == "現在：審査"
    if status == "done":
        assert view.stops[-1].state == "current"


def test_station_and_purpose_names_fall_back_to_english_then_japanese() -> None:
    tk = ticket(TOK[0], 1001, issued_ms=T0)
    only_ja = msgspec.structs.replace(tk, purpose={"ja": "証明書"})
    assert ticket_view(Held(), only_ja, "vi", ZONE).purpose == "証明書"
    assert ticket_view(Held(), tk, "vi", ZONE).purpose == "Chuyển đến / chuyển đi"


def test_the_congestion_view_words_the_level_and_the_numbers() -> None:
    held = held_with(feed(1, day=DAY, full=True, with_purposes=purposes(busy=4), sent_ms=T0))
    view = congestion_view(held, "ja", ZONE, live=True)
    assert len(view.rows) == len(SITE.categories) and view.as_of == "10:00 現在"
    by_level = {row.level: row.level_text for row in view.rows}
    assert by_level["green"] == "空いています"
    moving = view.rows[0]
    assert moving.waiting == "20人" and moving.wait == "約40分" and moving.level_text == "やや混んでいます"
    assert view.rows[4].wait == "目安なし" and view.rows[3].last_called == "なし"
    assert congestion_view(held, "ja", ZONE, live=False).rows == ()


def test_the_not_found_page_shows_no_office_and_no_case() -> None:
    view = not_found_view("en")
    assert view.chrome.office_name == "" and view.head == "This page cannot be shown"


# --------------------------------------------------------------------------------------------
# the pure modules stay pure
# --------------------------------------------------------------------------------------------

PURE = ("public.feed", "public.view", "public.strings")
CLOCK_READS = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("datetime", "now"),
    ("datetime", "today"),
    ("date", "today"),
}
FORBIDDEN = {"socket", "threading", "asyncio", "starlette", "uvicorn", "jinja2", "sqlite3", "subprocess", "paho"}


@pytest.mark.parametrize("module", PURE)
def test_the_core_reaches_no_io_and_reads_no_clock(module: str) -> None:
    graph = grimp.build_graph(
        "public", "common", "sync", include_external_packages=True, exclude_type_checking_imports=True, cache_dir=None
    )
    reached = graph.find_upstream_modules(module)
    assert not {m for m in reached if m.split(".")[0] in FORBIDDEN}, sorted(reached)
    for name in {module} | {m for m in reached if m.split(".")[0] in ("public", "common", "sync")}:
        path = REPO.joinpath(*name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
            ):
                call = (node.func.value.id, node.func.attr)
                assert call not in CLOCK_READS, f"{name}, line {node.lineno}: {call} reads the clock"
