"""Certificate kinds, options, fees, refusals and content (pure; the demo town of the contracts)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certificates.registry import Registry, Resident, demo_registry, synthetic_registry
from certificates.rules import (
    DEFAULT_FEES,
    MAX_CONTENT_BYTES,
    CertificateKind,
    ContentTooLargeError,
    FeeCode,
    FeeSchedule,
    FeeScheduleError,
    IneligibleError,
    JuminhyoOptions,
    KosekiOptions,
    OptionsError,
    PublicRefusal,
    RefusalReason,
    ShotokuOptions,
    certificate_content,
    check_copies,
    check_eligibility,
    fiscal_year_text,
    household_choices,
    parse_kind,
    parse_options,
    wareki,
)

TODAY = date(2026, 11, 21)
MAYOR = "まどぐち町長　佐々木　和夫"
K = CertificateKind
OK = None
GO = "go_to_counter"
NA = "not_available"

# card -> expected public refusal per kind (juminhyo, inkan, koseki, fuhyo, shotoku), from the contracts
EXPECTED: dict[str, tuple[str | None, ...]] = {
    "SIM-0001": (OK, OK, OK, OK, OK),
    "SIM-0002": (OK, OK, OK, OK, OK),
    "SIM-0003": (GO, GO, GO, GO, GO),  # under 15
    "SIM-0004": (GO, GO, GO, GO, GO),  # moved out
    "SIM-0005": (GO, GO, GO, GO, GO),  # support measures, same answer as any other refusal
    "SIM-0006": (OK, NA, NA, NA, OK),  # foreign: 住民票 yes, no 戸籍/附票, no seal registered
    "SIM-0007": (GO, GO, GO, GO, GO),  # 外字
}
KINDS = (K.JUMINHYO, K.INKAN, K.KOSEKI, K.FUHYO, K.SHOTOKU)


def _card(registry: Registry, serial: str) -> Resident:
    resident = registry.by_card(serial)
    assert resident is not None
    return resident


def _variant(registry: Registry, **changes: dict[str, Any]) -> Registry:
    """The registry with some residents changed (by id)."""
    residents = [replace(r, **changes.get(r.id, {})) for r in registry.residents.values()]
    return Registry.build(
        registry.municipality,
        residents,
        registry.households.values(),
        registry.seals.values(),
        registry.family_registers.values(),
        registry.tax_records.values(),
    )


@pytest.mark.parametrize("serial", sorted(EXPECTED))
@pytest.mark.parametrize("index", range(len(KINDS)), ids=[k.value for k in KINDS])
def test_eligibility_of_every_demo_resident_and_kind(serial: str, index: int) -> None:
    registry = demo_registry()
    kind = KINDS[index]
    refusal = check_eligibility(registry, _card(registry, serial), kind, parse_options(kind, None), TODAY)
    expected = EXPECTED[serial][index]
    assert (refusal.public if refusal else None) == expected


@pytest.mark.parametrize(
    ("serial", "reason", "cleared"),
    [
        ("SIM-0003", RefusalReason.UNDER_15, {"birth_date": date(1990, 1, 1)}),
        ("SIM-0004", RefusalReason.MOVED_OUT, {"moved_out": None}),
        ("SIM-0005", RefusalReason.SUPPORT_MEASURES, {"support_measures": False}),
        ("SIM-0007", RefusalReason.GAIJI, {"gaiji": False}),
    ],
)
def test_each_refusal_is_caused_by_its_flag(serial: str, reason: RefusalReason, cleared: dict[str, Any]) -> None:
    registry = demo_registry()
    resident = _card(registry, serial)
    refusal = check_eligibility(registry, resident, K.JUMINHYO, JuminhyoOptions(), TODAY)
    assert refusal is not None and refusal.reason is reason
    assert check_eligibility(registry, replace(resident, **cleared), K.JUMINHYO, JuminhyoOptions(), TODAY) is None


def test_the_kiosk_never_learns_the_reason() -> None:
    assert {r.public.value for r in RefusalReason} == {"go_to_counter", "not_available"}
    assert RefusalReason.SUPPORT_MEASURES.public is PublicRefusal.GO_TO_COUNTER
    assert RefusalReason.SUPPORT_MEASURES.public is RefusalReason.UNDER_15.public


def test_support_measures_are_logged_before_any_other_reason() -> None:
    registry = demo_registry()
    child = replace(_card(registry, "SIM-0003"), support_measures=True, gaiji=True)
    refusal = check_eligibility(registry, child, K.JUMINHYO, JuminhyoOptions(), TODAY)
    assert refusal is not None and refusal.reason is RefusalReason.SUPPORT_MEASURES


def test_age_15_starts_on_the_birthday() -> None:
    registry = demo_registry()
    ichiro = _card(registry, "SIM-0003")
    assert check_eligibility(registry, ichiro, K.JUMINHYO, JuminhyoOptions(), date(2029, 6, 19)) is not None
    assert check_eligibility(registry, ichiro, K.JUMINHYO, JuminhyoOptions(), date(2029, 6, 20)) is None


def test_a_pending_move_out_is_refused_too() -> None:
    registry = demo_registry()
    refusal = check_eligibility(registry, _card(registry, "SIM-0004"), K.JUMINHYO, JuminhyoOptions(), date(2026, 3, 1))
    assert refusal is not None and refusal.reason is RefusalReason.MOVE_OUT_PENDING and refusal.public == GO


def test_chosen_members_must_be_in_the_same_household() -> None:
    registry = demo_registry()
    taro = _card(registry, "SIM-0001")
    ok = JuminhyoOptions(scope="members", members=("R0002", "R0003"))
    assert check_eligibility(registry, taro, K.JUMINHYO, ok, TODAY) is None
    stranger = JuminhyoOptions(scope="members", members=("R0002", "R0006"))
    refusal = check_eligibility(registry, taro, K.JUMINHYO, stranger, TODAY)
    assert refusal is not None and refusal.reason is RefusalReason.MEMBER_NOT_IN_HOUSEHOLD
    assert refusal.public == NA


def test_a_protected_or_unprintable_household_member_sends_the_household_copy_to_a_counter() -> None:
    registry = _variant(demo_registry(), R0002={"support_measures": True}, R0003={"gaiji": True})
    taro = _card(registry, "SIM-0001")
    refusal = check_eligibility(registry, taro, K.JUMINHYO, JuminhyoOptions(scope="household"), TODAY)
    assert refusal is not None and refusal.reason is RefusalReason.MEMBER_SUPPORT_MEASURES and refusal.public == GO
    only_me = JuminhyoOptions(scope="members", members=("R0001",))
    assert check_eligibility(registry, taro, K.JUMINHYO, only_me, TODAY) is None
    refusal = check_eligibility(registry, taro, K.JUMINHYO, JuminhyoOptions(members=("R0003",)), TODAY)
    assert refusal is not None and refusal.reason is RefusalReason.MEMBER_GAIJI
    # nor may a protected person's name appear on the kiosk's screen
    assert household_choices(registry, taro, TODAY) == [{"id": "R0001", "name": "山田\u3000太郎"}]
    refusal = check_eligibility(registry, taro, K.KOSEKI, KosekiOptions("tohon"), TODAY)
    assert refusal is not None and refusal.reason is RefusalReason.MEMBER_SUPPORT_MEASURES


def test_household_choices_of_the_demo_family() -> None:
    registry = demo_registry()
    choices = household_choices(registry, _card(registry, "SIM-0002"), TODAY)
    assert [c["id"] for c in choices] == ["R0001", "R0002", "R0003"]


def test_tax_certificate_needs_a_record_for_the_year() -> None:
    registry = demo_registry()
    taro = _card(registry, "SIM-0001")
    refusal = check_eligibility(registry, taro, K.SHOTOKU, ShotokuOptions(2019), TODAY)
    assert refusal is not None and refusal.reason is RefusalReason.NO_TAX_RECORD and refusal.public == NA
    content = certificate_content(registry, taro, K.SHOTOKU, ShotokuOptions(), "n", TODAY, MAYOR)
    assert content["fiscal_year"] == 2025 and content["fiscal_year_text"] == "令和7年度"
    assert content["tax"]["total_tax"] == content["tax"]["municipal_tax"] + content["tax"]["prefectural_tax"]


def test_options_of_another_kind_are_an_error() -> None:
    registry = demo_registry()
    with pytest.raises(OptionsError, match="not koseki options"):
        check_eligibility(registry, _card(registry, "SIM-0001"), K.KOSEKI, JuminhyoOptions(), TODAY)


# -- options, copies, kinds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("juminhyo", {"scope": "all"}, 'options.scope: expected "household" or "members"'),
        ("juminhyo", {"with_my_number": "yes"}, "options.with_my_number: expected true or false"),
        ("juminhyo", {"with_honseki": 1}, "options.with_honseki: expected true or false"),
        ("juminhyo", {"scope": "household", "members": ["R0001"]}, "options.members: only with scope"),
        ("juminhyo", {"members": "R0001"}, "options.members: expected a list"),
        ("juminhyo", {"members": ["R0001", "R0001"]}, r"options.members\[1\]: R0001 is listed twice"),
        ("juminhyo", {"members": [1]}, r"options.members\[0\]: expected a resident id"),
        ("juminhyo", {"members": [f"R{i}" for i in range(21)]}, "options.members: at most 20"),
        ("juminhyo", {"mynumber": True}, "options.mynumber: unknown option for juminhyo; allowed: members, scope"),
        ("koseki", {"variant": "full"}, 'options.variant: expected "tohon"'),
        ("shotoku", {"fiscal_year": "2025"}, "options.fiscal_year: expected a fiscal year"),
        ("shotoku", {"fiscal_year": True}, "options.fiscal_year"),
        ("inkan", {"scope": "household"}, "options.scope: unknown option for inkan; inkan takes no options"),
        ("fuhyo", [], "options: expected an object of fuhyo options"),
    ],
)
def test_bad_options_name_the_field(kind: str, raw: Any, message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        parse_options(kind, raw)


def test_options_defaults_and_canonical_form() -> None:
    assert parse_options("juminhyo", None) == JuminhyoOptions()
    assert parse_options("juminhyo", {}).to_dict() == {
        "scope": "members",
        "members": [],
        "with_honseki": False,
        "with_zokugara": False,
        "with_my_number": False,
    }
    assert parse_options("koseki", {"variant": "shohon"}) == KosekiOptions("shohon")
    assert parse_options("shotoku", {"fiscal_year": 2024}).to_dict() == {"fiscal_year": 2024}
    assert parse_options("inkan", None).to_dict() == {}


def test_kinds_and_copies() -> None:
    assert parse_kind("koseki") is K.KOSEKI
    with pytest.raises(OptionsError, match="kind: 'jumin' is not a certificate; use one of juminhyo, inkan"):
        parse_kind("jumin")
    with pytest.raises(OptionsError, match="kind: 3 is not a certificate"):
        parse_kind(3)
    assert check_copies(10) == 10
    for bad in (0, 11, True, "2", 1.0):
        with pytest.raises(OptionsError, match="copies: expected a whole number from 1 to 10"):
            check_copies(bad)
    assert K.KOSEKI.name_ja == "戸籍謄本・抄本"


# -- fees ------------------------------------------------------------------------------------------------


def test_default_fees_are_the_contracts() -> None:
    fees = FeeSchedule.from_config(None)
    assert fees.to_dict() == {"juminhyo": 300, "inkan": 300, "koseki": 450, "fuhyo": 300, "shotoku": 300}
    assert fees.total("koseki", 2) == 900
    assert FeeSchedule() == FeeSchedule.from_config({})
    assert dict(FeeSchedule().fees) == dict(DEFAULT_FEES)


def test_config_overrides_some_fees_and_keeps_the_rest() -> None:
    fees = FeeSchedule.from_config({"juminhyo": 200, "shotoku": 0})
    assert fees.per_copy("juminhyo") == 200
    assert fees.per_copy(K.SHOTOKU) == 0
    assert fees.per_copy("koseki") == 450
    with pytest.raises(OptionsError, match="copies"):
        fees.total("juminhyo", 11)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"jumin": 300},
            r"certificate_fees\.jumin: expected a certificate code: fuhyo, inkan, juminhyo, koseki or shotoku",
        ),
        (
            {"koseki": "450"},
            r"certificate_fees\.koseki: expected whole yen per copy .*got \"450\"; write the number alone",
        ),
        ({"koseki": 450.0}, r"certificate_fees\.koseki: expected whole yen .*got 450\.0; write 450"),
        ({"inkan": True}, r"certificate_fees\.inkan: expected whole yen"),
        (
            {"inkan": -10},
            r"certificate_fees\.inkan: expected whole yen per copy from 0 to 10000, in 10-yen steps, got -10",
        ),
        ({"inkan": 20000}, r"certificate_fees\.inkan: expected whole yen per copy from 0 to 10000"),
        ({"fuhyo": 305}, r"certificate_fees\.fuhyo: expected a multiple of 10, got 305; use 300 or 310"),
        ([300], r"certificate_fees: expected a table of fees per copy"),
    ],
)
def test_bad_fee_configuration_names_the_key_and_the_fix(raw: Any, message: str) -> None:
    with pytest.raises(FeeScheduleError, match=message):
        FeeSchedule.from_config(raw)


def test_fee_codes_are_the_certificate_kinds() -> None:
    assert set(get_args(FeeCode)) == {k.value for k in CertificateKind}
    assert FeeSchedule.from_config({"koseki": 0}).per_copy(K.KOSEKI) == 0
    assert FeeSchedule.from_config({"koseki": 10_000}, path="kiosk.fees").per_copy("koseki") == 10_000
    with pytest.raises(FeeScheduleError, match=r"^kiosk\.fees\.koseki: expected whole yen"):
        FeeSchedule.from_config({"koseki": None}, path="kiosk.fees")


# -- content ------------------------------------------------------------------------------------------------


def _eligible(registry: Registry) -> list[tuple[Resident, CertificateKind]]:
    return [
        (r, k)
        for r in registry.residents.values()
        for k in KINDS
        if check_eligibility(registry, r, k, parse_options(k, None), TODAY) is None
    ]


def _text(content: dict[str, Any]) -> str:
    return json.dumps(content, ensure_ascii=False)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


@pytest.mark.parametrize("flags", [{}, {"with_zokugara": True}, {"scope": "household"}])
def test_content_never_holds_my_number_or_honseki_unless_asked(flags: dict[str, Any]) -> None:
    registry = demo_registry()
    for resident, kind in _eligible(registry):
        options = parse_options(kind, flags if kind is K.JUMINHYO else None)
        content = certificate_content(registry, resident, kind, options, "20261121-00001", TODAY, MAYOR)
        text = _text(content)
        items = _text({k: v for k, v in content.items() if k != "omitted"})  # record items, not the note
        for person in registry.residents.values():
            assert person.my_number not in _digits(text), (resident.id, kind)
        assert "my_number" not in items
        if kind in (K.JUMINHYO, K.INKAN, K.SHOTOKU):
            for person in registry.residents.values():
                if person.honseki:
                    assert person.honseki not in text, (resident.id, kind)
            assert "honseki" not in items and "hittosha" not in items and "nationality" not in items
        if kind is K.JUMINHYO:
            assert all("honseki" not in p and "hittosha" not in p for p in content["persons"])
            assert set(content["omitted"]) >= {"honseki", "my_number"}
            if not flags.get("with_zokugara"):
                assert all("relationship" not in p for p in content["persons"])


def test_content_holds_what_was_asked_for() -> None:
    registry = demo_registry()
    taro = _card(registry, "SIM-0001")
    options = parse_options(
        "juminhyo", {"scope": "household", "with_honseki": True, "with_zokugara": True, "with_my_number": True}
    )
    content = certificate_content(registry, taro, K.JUMINHYO, options, "20261121-00001", TODAY, MAYOR)
    persons = content["persons"]
    assert [p["name"] for p in persons] == ["山田\u3000太郎", "山田\u3000花子", "山田\u3000一郎"]
    assert [p["relationship"] for p in persons] == ["世帯主", "妻", "子"]
    assert all(p["honseki"] == taro.honseki and p["hittosha"] == "山田\u3000太郎" for p in persons)
    assert _digits(persons[0]["my_number"]) == taro.my_number
    assert persons[0]["birth"] == "昭和55年4月1日"
    assert content["omitted"] == []
    assert content["card_serial"] == "SIM-0001"
    assert content["issued_on_text"] == "令和8年11月21日"
    assert content["certification"] == "この写しは、住民票の原本と相違ないことを証明する。"
    assert content["household"] == {"address": taro.address, "head": "山田\u3000太郎"}
    assert json.loads(_text(content)) == content  # JSON-safe


def test_a_foreign_residents_record_shows_nationality_only_when_asked() -> None:
    registry = demo_registry()
    nguyen = _card(registry, "SIM-0006")
    plain = certificate_content(registry, nguyen, K.JUMINHYO, JuminhyoOptions(), "n", TODAY, MAYOR)
    assert "ベトナム" not in _text(plain)
    assert plain["persons"][0]["birth"] == "1995年2月11日"  # Western calendar for foreign residents
    asked = certificate_content(registry, nguyen, K.JUMINHYO, JuminhyoOptions(with_honseki=True), "n", TODAY, MAYOR)
    person = asked["persons"][0]
    assert person["nationality"] == "ベトナム" and person["foreign_category"] == "中長期在留者"
    assert "honseki" not in person


def test_koseki_variant_and_fuhyo_addresses() -> None:
    registry = demo_registry()
    hanako = _card(registry, "SIM-0002")
    tohon = certificate_content(registry, hanako, K.KOSEKI, KosekiOptions("tohon"), "n", TODAY, MAYOR)
    shohon = certificate_content(registry, hanako, K.KOSEKI, KosekiOptions("shohon"), "n", TODAY, MAYOR)
    assert len(tohon["members"]) == 3 and tohon["title"] == "戸籍全部事項証明書"
    assert [m["name"] for m in shohon["members"]] == ["山田\u3000花子"] and shohon["title"] == "戸籍個人事項証明書"
    assert shohon["certification"] != tohon["certification"]
    fuhyo = certificate_content(registry, hanako, K.FUHYO, parse_options("fuhyo", None), "n", TODAY, MAYOR)
    addresses = fuhyo["members"][1]["addresses"]
    assert addresses[-1]["address"] == hanako.address and len(addresses) == 3


def test_content_for_a_refused_request_is_never_made() -> None:
    registry = demo_registry()
    for serial in ("SIM-0003", "SIM-0004", "SIM-0005", "SIM-0007"):
        with pytest.raises(IneligibleError) as caught:
            certificate_content(registry, _card(registry, serial), K.JUMINHYO, JuminhyoOptions(), "n", TODAY, MAYOR)
        assert caught.value.refusal.public == GO
    with pytest.raises(IneligibleError):
        certificate_content(registry, _card(registry, "SIM-0006"), K.KOSEKI, KosekiOptions(), "n", TODAY, MAYOR)


def test_oversized_content_is_refused() -> None:
    registry = _variant(demo_registry(), R0001={"address": "長" * 40_000})
    with pytest.raises(ContentTooLargeError, match="above 65536"):
        certificate_content(registry, _card(registry, "SIM-0001"), K.JUMINHYO, JuminhyoOptions(), "n", TODAY, MAYOR)


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(2026, 4, 1), "令和8年4月1日"),
    ],
)
def test_wareki(day: date, text: str) -> None:
    assert wareki(day) == text


def test_fiscal_year_text() -> None:
    assert fiscal_year_text(2025) == "令和7年度"
    assert fiscal_year_text(2019) == "令和元年度"
    assert fiscal_year_text(2018) == "平成30年度"


TOWN = synthetic_registry(400, seed=11)


@settings(max_examples=150, deadline=None)
@given(
    index=st.integers(0, len(TOWN.residents) - 1),
    kind=st.sampled_from(KINDS),
    scope=st.sampled_from(["household", "members"]),
    with_my_number=st.booleans(),
    with_honseki=st.booleans(),
    day=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
)
def test_synthetic_town_content_is_small_and_private(
    index: int, kind: CertificateKind, scope: str, with_my_number: bool, with_honseki: bool, day: date
) -> None:
    resident = list(TOWN.residents.values())[index]
    raw = {"scope": scope, "with_my_number": with_my_number, "with_honseki": with_honseki} if kind is K.JUMINHYO else {}
    options = parse_options(kind, raw)
    refusal = check_eligibility(TOWN, resident, kind, options, day)
    if refusal is not None:
        assert refusal.public in (GO, NA)
        if resident.support_measures:
            assert refusal.reason is RefusalReason.SUPPORT_MEASURES
        return
    content = certificate_content(TOWN, resident, kind, options, "20260401-00001", day, MAYOR)
    text = _text(content)
    assert len(text.encode("utf-8")) < MAX_CONTENT_BYTES
    members = TOWN.household_members(resident.household_id)
    if not (kind is K.JUMINHYO and with_my_number):
        assert all(m.my_number not in _digits(text) for m in members)
    if kind is K.JUMINHYO and not with_honseki:
        assert resident.honseki is None or resident.honseki not in text
    if kind is K.JUMINHYO and scope == "household":
        # a household copy was made, so nobody in it is protected or unprintable
        current = [m for m in members if m.moved_out is None or m.moved_out > day]
        assert len(content["persons"]) == len(current)
        assert not any(m.support_measures or m.gaiji for m in current)
