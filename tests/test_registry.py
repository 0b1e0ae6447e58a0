"""The resident registry: the demo town of the kiosk contracts, synthetic towns, My Numbers."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certificates.registry import (
    AddressEntry,
    Household,
    Registry,
    RegistryError,
    Resident,
    Sex,
    age_on,
    demo_registry,
    make_my_number,
    my_number_check_digit,
    synthetic_registry,
    valid_my_number,
)

# The kiosk contracts' table: card -> (name, kana or None, birth date or None)
CONTRACT = {
    "SIM-0001": ("山田\u3000太郎", "ヤマダ\u3000タロウ", date(1980, 4, 1)),
    "SIM-0002": ("山田\u3000花子", None, date(1982, 9, 15)),
    "SIM-0003": ("山田\u3000一郎", None, date(2014, 6, 20)),
    "SIM-0004": ("佐藤\u3000次郎", None, None),
    "SIM-0005": ("鈴木\u3000美咲", None, None),
    "SIM-0006": ("NGUYEN\u3000VAN AN", "グエン\u3000ヴァン\u3000アン", date(1995, 2, 11)),
    "SIM-0007": ("髙橋\u3000健一", None, None),
}


def test_demo_registry_holds_exactly_the_contract_residents() -> None:
    registry = demo_registry()
    assert len(registry.residents) == len(CONTRACT)
    for card, (name, kana, birth) in CONTRACT.items():
        resident = registry.by_card(card)
        assert resident is not None, card
        assert resident.name == name
        if kana is not None:
            assert resident.kana == kana
        if birth is not None:
            assert resident.birth_date == birth
        assert valid_my_number(resident.my_number)
    assert registry.by_card("SIM-9999") is None


def test_demo_residents_carry_the_flags_the_kiosk_refuses_on() -> None:
    registry = demo_registry()

    def card(serial: str) -> Resident:
        resident = registry.by_card(serial)
        assert resident is not None
        return resident

    assert card("SIM-0004").moved_out == date(2026, 3, 31)
    assert card("SIM-0005").support_measures
    assert card("SIM-0007").gaiji
    nguyen = card("SIM-0006")
    assert nguyen.foreign and nguyen.honseki is None and nguyen.hittosha is None
    assert nguyen.nationality and nguyen.residence_status
    flagged = {"SIM-0004", "SIM-0005", "SIM-0007"}
    for serial in set(CONTRACT) - flagged:
        r = card(serial)
        assert r.moved_out is None and not r.support_measures and not r.gaiji


def test_the_yamada_household_its_seals_register_and_taxes() -> None:
    registry = demo_registry()
    taro = registry.by_card("SIM-0001")
    assert taro is not None and taro.household_id == "H001" and taro.relationship == "世帯主"
    members = registry.household_members("H001")
    assert [m.name for m in members] == ["山田\u3000太郎", "山田\u3000花子", "山田\u3000一郎"]
    assert registry.head_of(members[2]) == taro
    assert registry.seal("R0001") is not None and registry.seal("R0002") is not None
    assert registry.seal("R0006") is None
    register = registry.family_register(taro)
    assert register is not None and register.hittosha == taro.name
    assert {e.resident_id for e in register.members} == {"R0001", "R0002", "R0003"}
    assert registry.tax_years("R0001") == (2024, 2025)
    record = registry.tax_record("R0001", 2025)
    assert record is not None and record.taxable_income == record.income - record.deductions
    assert registry.household_members("H999") == ()


def test_my_number_check_digit_matches_the_published_rule() -> None:
    # Worked by hand: reversed digits 1,0,9,8,7,6,5,4,3,2,1 x weights 2..7,2..6 = 212; 212 % 11 = 3 -> 8
    assert my_number_check_digit("12345678901") == 8
    assert valid_my_number("123456789018")
    assert not valid_my_number("123456789017")
    assert not valid_my_number("12345678901")  # 11 digits
    assert not valid_my_number("１２３４５６７８９０１８")  # full-width digits are not a My Number
    with pytest.raises(ValueError, match="11 ASCII digits"):
        my_number_check_digit("1234")


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_made_my_numbers_are_valid(first11: str) -> None:
    number = make_my_number(first11)
    assert valid_my_number(number)
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not valid_my_number(wrong)


@pytest.mark.parametrize(
    ("birth", "today", "age"),
    [
        (date(2014, 6, 20), date(2029, 6, 19), 14),
        (date(2014, 6, 20), date(2029, 6, 20), 15),
        (date(2012, 2, 29), date(2027, 2, 28), 14),  # a leap-day child is 15 from 1 March
        (date(2012, 2, 29), date(2027, 3, 1), 15),
        (date(2012, 2, 29), date(2028, 2, 29), 16),
    ],
)
def test_age_on(birth: date, today: date, age: int) -> None:
    assert age_on(birth, today) == age


def _person(rid: str, household: str, **changes: object) -> Resident:
    base = Resident(
        id=rid,
        name="試験\u3000太郎",
        kana="シケン\u3000タロウ",
        birth_date=date(1990, 1, 1),
        sex=Sex.MALE,
        address="まどぐち町1番",
        address_since=date(2020, 1, 1),
        resident_since=date(2020, 1, 1),
        household_id=household,
        relationship="世帯主",
        my_number=make_my_number(f"{int(rid[1:]):011d}"),
        previous_addresses=(AddressEntry("東京都", date(2010, 1, 1)),),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("residents", "households", "message"),
    [
        (
            [_person("R1", "H1"), _person("R1", "H1")],
            [Household("H1", "R1", "a", ("R1",))],
            "resident R1: defined twice",
        ),
        ([_person("R1", "H1", my_number="123456789017")], [Household("H1", "R1", "a", ("R1",))], "valid check digit"),
        (
            [_person("R1", "H1", card_serial="C"), _person("R2", "H1", card_serial="C")],
            [Household("H1", "R1", "a", ("R1", "R2"))],
            "card C already belongs to R1",
        ),
        (
            [_person("R1", "H1", nationality="ベトナム", honseki="x", hittosha="y")],
            [Household("H1", "R1", "a", ("R1",))],
            "foreign resident has no 本籍",
        ),
        ([_person("R1", "H1")], [Household("H1", "R1", "a", ("R1", "R9"))], "member R9 is not a resident"),
        (
            [_person("R1", "H1"), _person("R2", "H2")],
            [Household("H1", "R1", "a", ("R1",))],
            "resident R2: household H2 does not list them",
        ),
        ([_person("R1", "H1")], [Household("H1", "R2", "a", ("R1",))], "must start with the head R2"),
    ],
)
def test_inconsistent_registry_data_is_refused_naming_the_record(
    residents: list[Resident], households: list[Household], message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        Registry.build("まどぐち町", residents, households)


def test_synthetic_registry_is_deterministic_and_consistent() -> None:
    a = synthetic_registry(800, seed=7)
    b = synthetic_registry(800, seed=7)
    c = synthetic_registry(800, seed=8)
    assert len(a.residents) == 800
    assert a.residents == b.residents
    assert a.residents != c.residents
    serials = [r.card_serial for r in a.residents.values() if r.card_serial]
    assert len(serials) == len(set(serials)) > 500
    for serial in serials[:50]:
        found = a.by_card(serial)
        assert found is not None and found.card_serial == serial
    people = list(a.residents.values())
    today = date(2026, 4, 1)
    # every eligibility rule meets real cases in a town this size
    assert any(r.foreign for r in people)
    assert any(age_on(r.birth_date, today) < 15 for r in people)
    assert any(r.moved_out for r in people)
    assert any(r.support_measures for r in people)
    assert any(r.gaiji for r in people)
    assert all(valid_my_number(r.my_number) for r in people)
    for r in people:
        if not r.foreign:
            assert a.family_register(r) is not None


def test_synthetic_registry_needs_a_resident() -> None:
    with pytest.raises(ValueError, match="count must be at least 1"):
        synthetic_registry(0)
