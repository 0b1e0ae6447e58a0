"""The dispenser's screens decided without a window: what a resident sees and hears."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from sync import messages, protocol
from sync.errors import StoreError
from ticket_dispenser.device import IssueResult
from ticket_dispenser.errors import DailyCapReached
from ticket_dispenser.presenter import FAULT_TIMEOUT_S, RESULT_TIMEOUT_S, Context, Presenter
from ticket_dispenser.ticket import IssuedTicket

NOON = 1_795_230_000_000  # 2026-11-21 12:00 JST, a Saturday (Sundays are closed below)
CONFIG = protocol.decode(
    "office_config",
    msgspec.json.encode(
        {
            "v": 1,
            "version": 1,
            "sent_ms": NOON,
            "stations": [],
            "timezone": "Asia/Tokyo",
            "dispenser": {
                "open": "08:30",
                "close": "17:15",
                "closed_weekdays": [6],
                "closed_dates": [],
                "holidays": [],
            },
            "categories": [
                {
                    "code": "moving",
                    "series": "1",
                    "name": {"ja": "転入・転出・転居", "kana": "てんにゅう", "en": "Moving in / out"},
                    "route": ["reception", "done"],
                    "procedures": ["住民異動届", "国民健康保険", "児童手当"],
                },
                {
                    "code": "certificates",
                    "series": "2",
                    "name": {"ja": "証明書", "kana": "しょうめいしょ", "en": "Certificates"},
                    "route": ["reception", "done"],
                    "procedures": ["住民票の写し"],
                    "daily_cap": 3,
                },
                {
                    "code": "tax",
                    "series": "7",
                    "name": {"ja": "税", "kana": "ぜい", "en": "Tax"},
                    "route": ["reception", "done"],
                },
            ],
        }
    ),
)
QUEUE = protocol.decode(
    "queue_snapshot",
    msgspec.json.encode(
        {
            "v": 1,
            "version": 1,
            "sent_ms": NOON,
            "categories": [
                {"code": "moving", "waiting": 4, "est_wait_min": 8},
                {"code": "certificates", "waiting": 0},
                {"code": "tax", "waiting": 1, "est_wait_min": 2},
            ],
        }
    ),
)


@dataclass
class FakeIssuer:
    """Stands in for the dispenser core: records presses, answers like it would."""

    printed: bool = True
    issued: int = 0
    fail_with: Exception | None = None

    def __post_init__(self) -> None:
        self.presses: list[tuple[str, tuple[str, ...], str]] = []

    def issue(self, category: str, procedures: Sequence[str] = (), language: str = "ja") -> Any:
        if self.fail_with is not None:
            raise self.fail_with
        self.presses.append((category, tuple(procedures), language))
        self.issued += 1
        ticket = IssuedTicket(
            f"2026-11-21-1-{1100 + self.issued}",
            "2026-11-21",
            "1",
            1100 + self.issued,
            category,
            {"ja": "転入", "en": "Moving"},
            ("reception",),
            tuple(procedures),
            NOON,
            True,
            4,
            8,
        )
        return IssueResult(ticket, printed=self.printed, fault=None if self.printed else "paper_out")

    def issued_today(self, category: str) -> int | None:
        return self.issued


def make(
    online: bool = True, now: int = NOON, config: messages.OfficeConfig = CONFIG, **issuer: Any
) -> tuple[Presenter, FakeIssuer, list[tuple[str, Any, str]]]:
    fake = FakeIssuer(**issuer)
    spoken: list[tuple[str, Any, str]] = []
    clock = {"now": now}
    p = Presenter(
        fake, lambda: Context(config, QUEUE, online, clock["now"]), speak=lambda k, v, lang: spoken.append((k, v, lang))
    )
    p.clock = clock  # type: ignore[attr-defined]
    return p, fake, spoken


def test_start_screen_lists_purposes_in_config_order_with_readings_and_waits() -> None:
    p, _, _ = make()
    s = p.state
    assert s.screen == "start" and s.banner is None
    assert [b.code for b in s.purposes] == ["moving", "certificates", "tax"]
    assert s.purposes[0].reading == "てんにゅう" and s.purposes[0].name == "転入・転出・転居"
    assert "4" in s.purposes[0].detail and "8" in s.purposes[0].detail
    assert s.texts["title"] != "Please choose the purpose of your visit"  # Japanese by default
    p.set_language("en")
    assert p.state.texts["title"] == "Please choose the purpose of your visit"
    assert p.state.purposes[0].name == "Moving in / out" and p.state.purposes[0].reading == ""


def test_single_procedure_purpose_issues_at_once_and_result_times_out() -> None:
    p, fake, spoken = make()
    p.set_language("en")
    p.choose("tax")
    assert fake.presses == [("tax", (), "en")]
    assert p.state.screen == "result" and p.state.number == "1101"
    assert "4" in p.state.texts["ahead"] and "8" in p.state.texts["wait"]
    assert spoken[-1] == ("ticket", 1101, "en")
    p.tick(RESULT_TIMEOUT_S)
    assert p.state.screen == "start" and p.state.language == "ja"  # the next resident starts in Japanese


def test_checklist_carries_the_chosen_procedures_on_the_ticket() -> None:
    p, fake, _ = make()
    p.choose("moving")
    assert p.state.screen == "checklist"
    assert [name for name, _ in p.state.checklist] == ["住民異動届", "国民健康保険", "児童手当"]
    p.toggle(0)
    p.toggle(2)
    p.confirm()
    assert fake.presses == [("moving", ("住民異動届", "児童手当"), "ja")]


def test_the_checklist_names_procedures_in_the_residents_language_and_the_ticket_carries_japanese() -> None:
    config = msgspec.structs.replace(CONFIG, procedure_names={"住民異動届": {"en": "Change of address"}})
    p, fake, _ = make(config=config)
    p.set_language("en")
    p.choose("moving")
    assert [name for name, _ in p.state.checklist] == ["Change of address", "国民健康保険", "児童手当"]
    p.toggle(0)
    p.confirm()
    assert fake.presses == [("moving", ("住民異動届",), "en")]  # what the counter reads


def test_printer_fault_shows_the_number_and_asks_to_tell_staff() -> None:
    p, _, spoken = make(printed=False)
    p.set_language("en")
    p.choose("tax")
    s = p.state
    assert s.screen == "printer_fault" and s.number == "1101"
    assert s.texts["instruction"] == "Please note your number and tell a member of staff"
    assert s.texts["valid"] == "Your number is valid"
    assert spoken[-1] == ("ticket", 1101, "en")
    p.tick(RESULT_TIMEOUT_S)
    assert p.state.screen == "printer_fault"  # longer: the number must be noted
    p.tick(FAULT_TIMEOUT_S)
    assert p.state.screen == "start"


def test_offline_shows_a_calm_banner_and_still_issues() -> None:
    p, fake, _ = make(online=False)
    p.set_language("en")
    assert p.state.banner == "Connection to the office lost — tickets are still valid; wait estimate unavailable"
    assert all(b.detail == "Wait time unavailable" for b in p.state.purposes)
    p.choose("tax")
    assert p.state.screen == "result" and fake.presses


def test_daily_cap_and_exhausted_numbers_show_the_numbers_out_screen() -> None:
    p, fake, _ = make()
    fake.issued = 3  # certificates' cap
    p.refresh()
    assert not next(b for b in p.state.purposes if b.code == "certificates").available
    p.set_language("en")
    p.choose("certificates")
    assert p.state.screen == "numbers_out" and "Certificates" in p.state.texts["title"]
    assert fake.presses == []
    p.back()
    p, fake, _ = make(fail_with=DailyCapReached("cap"))
    p.choose("tax")
    assert p.state.screen == "numbers_out"


def test_a_store_that_fails_shows_please_ask_staff_without_a_number_until_repaired() -> None:
    p, _fake, spoken = make(fail_with=StoreError("cannot write store file: [Errno 28] No space left on device"))
    p.choose("tax")  # tax has no procedure list: straight to the ticket
    s = p.state
    assert s.screen == "out_of_service" and s.number == "" and s.timeout_s is None
    assert s.texts == {
        "title": "ただいま、この発券機では番号札を発行できません",
        "instruction": "総合案内の職員におたずねください",
    }
    assert not [k for k, _v, _lang in spoken if k == "ticket"]  # no number is read out either
    for act in (lambda: p.tick(RESULT_TIMEOUT_S * 10), p.back, lambda: p.key("OK"), lambda: p.choose("moving")):
        act()
        assert p.state.screen == "out_of_service"
    p.set_language("en")
    assert p.state.texts["title"] == "This machine cannot issue tickets at the moment"
    # A device whose agent already failed opens on the same screen, never on the purposes.
    fake2 = FakeIssuer()
    q = Presenter(fake2, lambda: Context(CONFIG, QUEUE, True, NOON, out_of_service=True))
    assert q.refresh().screen == "out_of_service"
    q.back()
    assert q.state.screen == "out_of_service" and fake2.presses == []


def test_closed_outside_hours_and_reopens_by_itself() -> None:
    early = NOON - 6 * 3600 * 1000  # 06:00
    p, fake, _ = make(now=early)
    p.set_language("en")
    assert p.state.screen == "closed"
    assert p.state.texts["hours"] == "Opening hours: 08:30–17:15"
    assert "11/21 08:30" in p.state.texts["reopen"]
    p.choose("tax")
    assert fake.presses == []
    p.clock["now"] = NOON  # type: ignore[attr-defined]
    p.tick(1)
    assert p.state.screen == "start"


def test_sunday_is_closed_and_names_monday() -> None:
    sunday = NOON + 24 * 3600 * 1000
    p, _, _ = make(now=sunday)
    p.set_language("en")
    assert p.state.screen == "closed" and "11/23 08:30" in p.state.texts["reopen"]


def test_keypad_alone_reaches_a_ticket_and_speaks_each_focus() -> None:
    p, fake, spoken = make()
    p.key("RIGHT")
    assert p.state.focus == 1
    assert spoken[-1] == ("focus", "しょうめいしょ", "ja")  # the kana reading is spoken
    p.key("RIGHT")
    p.key("OK")  # tax: one procedure
    assert fake.presses == [("tax", (), "ja")]
    assert p.state.screen == "result"
    p.key("OK")
    assert p.state.screen == "start"
    p.key("OK")  # moving: the checklist, by keypad too
    assert p.state.screen == "checklist"
    p.key("OK")  # tick the first procedure
    p.key("DOWN")
    p.key("DOWN")
    p.key("DOWN")  # 'Issue ticket'
    p.key("OK")
    assert fake.presses[-1] == ("moving", ("住民異動届",), "ja")


def test_an_unchanged_state_is_not_published_again() -> None:
    p, _, _ = make()
    seen: list[str] = []
    p.subscribe(lambda s: seen.append(s.screen))
    p.refresh()
    p.refresh()  # same documents, same screen: nothing to redraw
    assert seen == []
    p.set_language("en")
    assert seen == ["start"]
