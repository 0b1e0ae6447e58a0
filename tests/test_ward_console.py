"""The ward's floor and statistics in the central office's console, over a real PostgreSQL and real
Mosquittos: the consumer keeps each branch's latest state documents (last value wins, junk kept
aside), the pages show them and the ward's figures (the same as office/ward_stats.py's for the
same rows), a clerk sees none of it, a console that is not the centre has no ward pages, and a
centre without its database is a configuration error."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from ward_rig import issue, leased, settle, start_ward
from ward_seed import make_schema, put_branch, put_log, renamed

from console_harness import Console, running_console, start_console
from harness import SITE
from office import ward_consumer
from office.stats import history
from office.ticket_log import LogRow
from office.ward_bridge import ROUTES, Route
from office.ward_consumer import WardConsumer, state_of, state_routes
from office.ward_stats import central_figures
from sync import messages, protocol
from sync.site import Ward as WardSettings
from sync.site import parse

NOW = int(time.time() * 1000)
FIRST = date(2026, 10, 5)
LAST = date(2026, 10, 16)


def centre_config(dsn: str) -> Any:
    return msgspec.structs.replace(
        SITE, site="ward-centre", office_name="区役所 本庁", ward=WardSettings(centre=True, dsn=dsn)
    )


@pytest.fixture
def schema(postgres: Any) -> str:
    make_schema(postgres.dsn)
    return str(postgres.dsn)


@pytest.fixture
def centre(mosquitto: Any, tmp_path: Path, schema: str) -> Iterator[Console]:
    yield from running_console(mosquitto.url, tmp_path / "centre.sqlite3", config=centre_config(schema))


def history_rows(seed: int) -> list[LogRow]:
    return [r for _, rows in history.generate(SITE, FIRST, LAST, seed=seed, scale=0.08) for r in rows]


def seed_branch(dsn: str, site: str, name: str, *, waiting: tuple[int, int], bridge: bool, cases: int = 0) -> None:
    put_branch(
        dsn,
        renamed(SITE, site, name),
        now=NOW,
        waiting={"certificates": (waiting[0], 12), "moving": (waiting[1], None)},
        bridge=bridge,
        since=NOW - 60_000,
        devices=(("disp-1", "dispenser", True, 12, 10), ("board-1", "board", False, 0, 0)),
        cases=[NOW - 600_000 + i for i in range(cases)],
    )


def card(page: str, site: str) -> str:
    found = re.search(rf'<section class="panel wide ward-branch" id="branch-{site}".*?</section>', page, re.DOTALL)
    assert found, f"no card of {site}"
    return html.unescape(found.group(0))


def figure(page: str, name: str) -> str:
    found = re.search(rf'<dd id="fig-{name}">([^<]*)</dd>', page)
    assert found, name
    return html.unescape(found.group(1))


# -- configuration --------------------------------------------------------------------------------


def test_a_centre_without_its_database_is_a_configuration_error() -> None:
    doc = msgspec.to_builtins(SITE)
    doc["ward"] = {"centre": True}
    with pytest.raises(ValueError, match=r"^ward\.dsn: required when centre = true.*dsn = \"postgresql://"):
        parse(doc)
    doc["ward"] = {"centre": True, "dsn": "postgresql://ward@127.0.0.1/ward"}
    assert parse(doc).ward.centre


# -- the consumer keeps the branches' state -------------------------------------------------------


def test_every_state_route_going_up_is_kept_by_its_name_and_one_added_later_too(monkeypatch: Any) -> None:
    names = {r.name for r in state_routes()}
    assert {"device_status", "office_status", "office_config", "queue_snapshot", "board_snapshot"} <= names
    for route in state_routes():
        topic = "ward/kita/up/" + route.pattern.replace("+", "disp-1")
        assert state_of(topic) == ("kita", route.name, "disp-1" if "+" in route.pattern else "")
    assert state_of("ward/kita/up/bridge/state") == ("kita", "bridge_state", "")
    for other in ("ward/kita/up/device/disp-1/events", "ward/kita/down/office/status", "ward/a b/up/office/status"):
        assert state_of(other) is None
    assert state_of("ward/kita/up/office/lease/disp-1") is None
    monkeypatch.setattr(ward_consumer, "ROUTES", (*ROUTES, Route("lease", "out", 0)))
    assert state_of("ward/kita/up/office/lease/disp-1") == ("kita", "lease", "disp-1")
    assert "ward/+/up/office/lease/+" in ward_consumer.state_topics()


def test_the_consumer_keeps_the_latest_state_of_each_branch_and_sets_junk_aside(
    mosquitto: Any, postgres: Any, wait_for: Any
) -> None:
    consumer = WardConsumer("127.0.0.1", mosquitto.port, postgres.dsn)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bridge-test")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()

    def send(topic: str, payload: bytes) -> None:
        client.publish(topic, payload, qos=0, retain=True).wait_for_publish(10)

    def kept() -> dict[tuple[str, str, str], Any]:
        with psycopg.connect(postgres.dsn) as db:
            rows = db.execute("SELECT site, name, device, body FROM ward_state").fetchall()
        return {(s, n, d): b for s, n, d, b in rows}

    try:
        # retained before the consumer subscribes: it gets them when it does
        send("ward/kita/up/office/status", protocol.encode(messages.OfficeStatus(state="online", epoch="e1")))
        send("ward/kita/up/bridge/state", b"1")
        consumer.start()
        wait_for(lambda: consumer._client.is_connected() and consumer.stats["states"] >= 2, 20)
        snapshot = messages.QueueSnapshot(
            version=1, sent_ms=NOW, categories=(messages.QueueRow(code="certificates", waiting=3),)
        )
        send("ward/kita/up/office/snapshot/queue", protocol.encode(snapshot))
        later = msgspec.structs.replace(snapshot, version=2, categories=(messages.QueueRow(code="moving", waiting=7),))
        send("ward/kita/up/office/snapshot/queue", protocol.encode(later))  # last value wins
        send("ward/minami/up/device/disp-1/status", protocol.encode(messages.DeviceStatus(state="online")))
        send("ward/kita/up/bridge/state", b"0")
        send("ward/kita/up/office/snapshot/board", b"{not json")  # kept aside, nothing else lost
        send("ward/kita/up/bridge/state", b"maybe")
        send("ward/minami/up/office/status", protocol.encode(messages.OfficeStatus(state="offline", epoch="e2")))
        wait_for(lambda: consumer.stats["kept_aside"] == 2 and consumer.stats["states"] >= 7, 20)
        state = kept()
        assert state[("kita", "queue_snapshot", "")]["version"] == 2
        assert state[("kita", "queue_snapshot", "")]["categories"][0]["code"] == "moving"
        assert state[("kita", "bridge_state", "")] == {"connected": False}
        assert state[("kita", "office_status", "")]["state"] == "online"
        assert state[("minami", "device_status", "disp-1")]["state"] == "online"
        assert state[("minami", "office_status", "")]["state"] == "offline"
        assert ("kita", "board_snapshot", "") not in state
        send("ward/minami/up/device/disp-1/status", b"")  # a retained value cleared
        wait_for(lambda: ("minami", "device_status", "disp-1") not in kept(), 20)
        with psycopg.connect(postgres.dsn) as db:
            aside = [r[0] for r in db.execute("SELECT topic FROM ward_kept_aside ORDER BY id").fetchall()]
        assert aside == ["ward/kita/up/office/snapshot/board", "ward/kita/up/bridge/state"]
    finally:
        for topic in ("office/status", "bridge/state", "office/snapshot/queue", "office/snapshot/board"):
            client.publish(f"ward/kita/up/{topic}", b"", retain=True).wait_for_publish(10)
        client.loop_stop()
        client.disconnect()
        consumer.stop()


# -- the pages ------------------------------------------------------------------------------------


def test_the_ward_floor_shows_every_branch_from_the_centres_database(centre: Console, schema: str) -> None:
    seed_branch(schema, "kita", "北支所", waiting=(4, 2), bridge=True, cases=3)
    seed_branch(schema, "minami", "南支所", waiting=(0, 5), bridge=False)
    c = centre.sign_in("kato", lang="ja")
    page = c.get("/ward")
    assert page.status_code == 200, page.text
    assert '<meta http-equiv="refresh"' in page.text
    assert 'href="/ward"' in page.text and 'href="/ward/stats"' in page.text  # in the navigation
    kita, minami = card(page.text, "kita"), card(page.text, "minami")
    assert "北支所" in kita and "南支所" in minami
    assert "から接続中" in kita and "から切断" in minami
    assert "稼働中" in kita
    assert "未着 2 件" in kita  # disp-1 says 12 sent, the centre holds 10
    assert "接続 1 台・切断 1 台" in kita and "board-1" in kita
    assert "待ち 6 人" in kita and "待ち 5 人" in minami
    certificates = re.search(r'data-purpose="certificates"><th scope="row">([^<]*)</th><td class="n">(\d+)</td>', kita)
    assert (
        certificates
        and certificates.group(2) == "4"
        and certificates.group(1) == next(c.name["ja"] for c in SITE.categories if c.code == "certificates")
    )
    assert "約 12 分" in kita
    assert "入力待ち 3 件" in kita and "入力センター" not in minami  # a branch sending no cases shows none
    choice = c.get("/ward/stats?site=kita").text  # the branches by the names their configuration gives
    assert '<option value="kita" selected>北支所 (kita)</option>' in choice and ">南支所 (minami)</option>" in choice
    assert "区の統計（北支所）" in choice
    english = centre.sign_in("admin", lang="en").get("/ward")
    assert english.status_code == 200 and "connected since" in english.text and "cut since" in english.text


def test_the_ward_statistics_are_ward_stats_figures_for_the_ward_and_each_branch(centre: Console, schema: str) -> None:
    kita, minami = history_rows(3), history_rows(4)
    put_log(schema, "kita", kita, NOW)
    put_log(schema, "minami", minami, NOW)
    c = centre.sign_in("kato", lang="en")
    query = f"from={FIRST}&to={LAST}"
    totals = 0
    for site, sites in (("", ()), ("kita", ("kita",)), ("minami", ("minami",))):
        page = c.get(f"/ward/stats?{query}&site={site}")
        assert page.status_code == 200, page.text
        made = central_figures(
            schema,
            FIRST,
            LAST,
            tz=ZoneInfo(SITE.timezone),
            target_wait_s=SITE.congestion.target_wait_minutes * 60,
            stations=[s.code for s in SITE.stations],
            sites=sites,
        ).summary
        assert made.arrivals > 50
        assert figure(page.text, "arrivals") == str(made.arrivals)
        assert figure(page.text, "served") == str(made.served)
        assert figure(page.text, "no-shows") == str(made.no_shows)
        assert figure(page.text, "transfers") == str(made.transfers)
        assert made.wait.median is not None
        assert figure(page.text, "median-wait") == f"{round(made.wait.median / 60, 1)} minutes"
        if site:
            totals += made.arrivals
            assert f'<option value="{site}" selected>' in page.text
            assert f"/ward/stats/plot/by_hour.svg?{query}&site={site}" in html.unescape(page.text)
        else:
            whole = made.arrivals
            assert "the whole ward" in page.text
    assert totals == whole
    plot = c.get(f"/ward/stats/plot/by_hour.svg?{query}&site=kita")
    assert plot.status_code == 200 and plot.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in plot.content
    assert c.get(f"/ward/stats/plot/by_hour.svg?{query}&site=nowhere").status_code == 404
    unknown = c.get(f"/ward/stats?{query}&site=nowhere")
    assert unknown.status_code == 200 and "No branch nowhere at the centre" in html.unescape(unknown.text)
    assert "/stats/download/" not in c.get(f"/ward/stats?{query}").text
    japanese = centre.sign_in("admin", lang="ja").get(f"/ward/stats?{query}&site=kita")
    assert "区の統計（北" not in japanese.text  # no office_config seeded: the branch is its site id
    assert "区の統計（kita）" in html.unescape(japanese.text)


def test_a_clerk_sees_no_ward_page(centre: Console, schema: str) -> None:
    c = centre.sign_in("suzuki", counter=1, lang="ja")
    for path in ("/ward", f"/ward/stats?from={FIRST}&to={LAST}", f"/ward/stats/plot/by_hour.svg?from={FIRST}"):
        assert c.get(path).status_code == 403, path
    assert 'href="/ward"' not in c.get("/counter").text
    assert centre.client().get("/ward").status_code == 303  # not signed in: to the sign-in page


def test_an_office_that_is_not_the_centre_has_no_ward_pages(mosquitto: Any, tmp_path: Path) -> None:
    for console in running_console(mosquitto.url, tmp_path / "office.sqlite3"):
        c = console.sign_in("kato", lang="ja")
        assert c.get("/ward").status_code == 404
        assert c.get("/ward/stats").status_code == 404
        assert 'href="/ward' not in c.get("/floor").text


def test_a_database_away_is_said_on_the_page(mosquitto: Any, tmp_path: Path) -> None:
    config = centre_config("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    for console in running_console(mosquitto.url, tmp_path / "centre.sqlite3", config=config):
        page = console.sign_in("kato", lang="ja").get("/ward")
        assert page.status_code == 200
        assert "区の中央データベースに接続できません" in page.text


# -- end to end: branches bridged to the centre, the centre's console ------------------------------


def test_a_branch_seen_through_its_bridge_on_the_centres_floor(
    mosquitto: Any, postgres: Any, tmp_path: Path, wait_for: Any
) -> None:
    ward = start_ward(tmp_path, postgres.dsn, sites=("kita", "minami"))
    console = start_console(mosquitto.url, tmp_path / "centre.sqlite3", config=centre_config(postgres.dsn))
    try:
        kita = ward.branches["kita"]
        wait_for(lambda: leased(kita), 20)
        issue(kita, 3)
        c = console.sign_in("kato", lang="ja")

        def shown() -> str:
            page = c.get("/ward")
            assert page.status_code == 200
            return page.text

        settle(
            lambda: "待ち 3 人" in card(shown(), "kita") and "から接続中" in card(shown(), "minami"),
            30,
            "the branches' queues and bridges did not reach the centre's floor",
        )
        seen = card(shown(), "kita")
        assert "から接続中" in seen and "稼働中" in seen and "接続 1 台・切断 0 台" in seen
        settle(lambda: "遅れなし" in card(shown(), "kita"), 30, "kita's events did not all reach the centre")
        kita.link.cut()
        settle(lambda: "から切断" in card(shown(), "kita"), 60, "the centre did not see kita's bridge go")
        assert "から接続中" in card(shown(), "minami")
    finally:
        console.close()
        ward.close()
