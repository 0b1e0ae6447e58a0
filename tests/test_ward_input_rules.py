"""The shared input centre's rules without brokers: who may take a case from whom, what a branch
checks of a centre action before its desk sees it, what the cases document carries, and the
configuration's errors."""

from __future__ import annotations

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness import SITE
from office import actions, ward_input
from office.domain import CommandError, Stamp, Status, Ticket, claim
from sync import messages, protocol
from sync.errors import ProtocolError
from sync.signing import OfficeSigner, OfficeVerifier, SignatureError
from sync.site import parse

CENTRE = OfficeSigner(Ed25519PrivateKey.generate())
ROUTE = ("reception", "input", "review", "issuing", "done")
NOW = 1_780_000_000_000


def case(holder: str | None = None, status: Status = Status.IN_PROGRESS) -> Ticket:
    return Ticket(
        "2026-12-07-2-2001", "2026-12-07", "2", 2001, "moving", "disp-1", NOW - 600_000, "h",
        ROUTE, ("転入届",), status, 1, None, NOW - 60_000, None, holder,
    )  # fmt: skip


# -- taking a case ---------------------------------------------------------------------------------


def test_a_branch_user_takes_a_case_back_from_the_centre() -> None:
    taken = claim(case(holder="ward:tanaka"), "clerk-2", NOW)
    assert taken.holder == "clerk-2" and taken.updated_ms == NOW


def test_the_centre_takes_no_case_from_a_branch_user_nor_from_another_centre_operator() -> None:
    with pytest.raises(CommandError, match="already being worked on by clerk-2"):
        claim(case(holder="clerk-2"), "ward:tanaka", NOW)
    with pytest.raises(CommandError, match="already being worked on by ward:tanaka"):
        claim(case(holder="ward:tanaka"), "ward:suzuki", NOW)
    with pytest.raises(CommandError, match="already being worked on by clerk-1"):
        claim(case(holder="clerk-1"), "clerk-2", NOW)  # between branch users, as before


# -- a centre action at the branch ----------------------------------------------------------------


def sealed(sent_ms: int = NOW, *, site: str = "chuo", signer: OfficeSigner = CENTRE, action: str = "claim") -> bytes:
    kinds = {"claim": messages.WardClaim, "release": messages.WardRelease, "finish": messages.WardFinish}
    doc = messages.WardAction(
        request_id="ward-0123456789",
        operator="tanaka",
        sent_ms=sent_ms,
        case=kinds[action](ticket_id="2026-12-07-2-2001", seen_ms=NOW - 60_000),
    )
    return signer.seal("ward_action", site, None, protocol.encode(doc))


def test_a_signed_fresh_action_becomes_the_desk_s_typed_action_for_a_centre_operator() -> None:
    verifier = OfficeVerifier(CENTRE.public_key)
    for word, kind in (("claim", actions.Claim), ("release", actions.Release), ("finish", actions.Finish)):
        doc, action, actor = ward_input.accept(sealed(NOW - 5_000, action=word), verifier, "chuo", NOW)
        assert type(action) is kind and action.ticket_id == "2026-12-07-2-2001" and action.seen_ms == NOW - 60_000
        assert action.request_id == doc.request_id
        assert actor == actions.Actor("ward:tanaka", "input", None)
        assert actions.allowed(actor, action)
    _, finish, _ = ward_input.accept(sealed(action="finish"), verifier, "chuo", NOW)
    assert isinstance(finish, actions.Finish) and finish.outcome == "next"  # never "complete" from the centre


def test_an_action_not_signed_by_the_pinned_centre_or_for_another_branch_is_refused() -> None:
    verifier = OfficeVerifier(CENTRE.public_key)
    with pytest.raises(SignatureError):
        ward_input.accept(sealed(signer=OfficeSigner(Ed25519PrivateKey.generate())), verifier, "chuo", NOW)
    with pytest.raises(SignatureError):
        ward_input.accept(sealed(site="kita"), verifier, "chuo", NOW)
    with pytest.raises(SignatureError):
        ward_input.accept(
            protocol.encode(messages.WardReply(request_id="x", ok=True, message="")), verifier, "chuo", NOW
        )


def test_an_action_past_its_age_or_from_the_future_is_refused_with_a_reason() -> None:
    verifier = OfficeVerifier(CENTRE.public_key)
    limit = messages.WARD_ACTION_MAX_AGE_MS
    ward_input.accept(sealed(NOW - limit), verifier, "chuo", NOW)  # just in time
    with pytest.raises(ward_input.Refused, match=r"sent 60 s ago"):
        ward_input.accept(sealed(NOW - limit - 1), verifier, "chuo", NOW)
    with pytest.raises(ward_input.Refused, match=r"ahead of the branch's clock"):
        ward_input.accept(sealed(NOW + messages.WARD_ACTION_MAX_AHEAD_MS + 1000), verifier, "chuo", NOW)


def test_a_malformed_action_is_a_protocol_error() -> None:
    body = b'{"v":1,"request_id":"ward-0123456789","operator":"Tanaka San","sent_ms":1,"case":{"action":"void","ticket_id":"x"}}'
    with pytest.raises(ProtocolError):
        ward_input.accept(
            CENTRE.seal("ward_action", "chuo", None, body), OfficeVerifier(CENTRE.public_key), "chuo", NOW
        )


def test_only_a_case_at_the_input_station_may_be_worked_from_the_centre() -> None:
    ward_input.at_input(case(), "input")
    with pytest.raises(ward_input.Refused, match="no longer at the input station"):
        ward_input.at_input(changed(case(), station_index=2), "input")
    with pytest.raises(ward_input.Refused, match="no longer at the input station"):
        ward_input.at_input(changed(case(), status=Status.DONE), "input")
    with pytest.raises(ward_input.Refused, match="no such case"):
        ward_input.at_input(None, "input")


def changed(ticket: Ticket, **changes: object) -> Ticket:
    from dataclasses import replace

    return replace(ticket, **changes)  # type: ignore[arg-type]


# -- the cases document -----------------------------------------------------------------------------


def test_the_cases_document_lists_the_input_station_oldest_first_and_counts_the_rest() -> None:
    tickets = [changed(case(), ticket_id=f"t{n}", number=2000 + n, updated_ms=NOW - n) for n in range(1, 306)] + [
        changed(case(), ticket_id="elsewhere", station_index=2)
    ]
    stamps = {t.ticket_id: [Stamp(t.ticket_id, "input", NOW - 1_000 * t.number, None)] for t in tickets}
    doc = ward_input.cases_document("input", tickets, stamps, version=7, now_ms=NOW, today="2026-12-07")
    assert len(doc.cases) == messages.MAX_WARD_CASES and doc.more == 305 - messages.MAX_WARD_CASES
    assert [c.number for c in doc.cases[:3]] == [2305, 2304, 2303]  # arrived earliest first
    assert all(c.ticket_id != "elsewhere" for c in doc.cases)
    again = protocol.decode("ward_cases", protocol.encode(doc))  # what crosses the bridge decodes
    assert again == doc
    # No resident's name, address or birth date: only what keying a case starts from.
    assert set(msgspec.structs.asdict(doc.cases[0])) == {
        "ticket_id", "number", "category", "procedures", "arrived_ms", "updated_ms", "holder", "held",
    }  # fmt: skip


# -- configuration --------------------------------------------------------------------------------


def test_sharing_the_input_station_needs_the_centre_s_key_and_a_good_one() -> None:
    doc = msgspec.to_builtins(SITE)
    doc["ward"] = {"share_input": True}
    with pytest.raises(ValueError, match=r"^ward\.centre_key: required when share_input = true"):
        parse(doc)
    doc["ward"] = {"share_input": True, "centre_key": "ed25519:short"}
    with pytest.raises(ValueError, match=r"^ward\.centre_key: .*office-key"):
        parse(doc)
    doc["ward"] = {"share_input": True, "centre_key": CENTRE.public_text}
    assert parse(doc).ward.share_input


def test_the_centre_s_branch_keys_are_checked_and_need_the_broker() -> None:
    doc = msgspec.to_builtins(SITE)
    doc["ward"] = {"branch_keys": {"chuo": CENTRE.public_text}}
    with pytest.raises(ValueError, match=r"^ward\.broker: required with branch_keys"):
        parse(doc)
    doc["ward"] = {"branch_keys": {"chuo": "nope"}, "broker": "mqtt://127.0.0.1:1883"}
    with pytest.raises(ValueError, match=r"^ward\.branch_keys\.chuo: "):
        parse(doc)
    doc["ward"] = {"branch_keys": {"bad/site": CENTRE.public_text}, "broker": "mqtt://127.0.0.1:1883"}
    with pytest.raises(ValueError, match=r"not a site id"):
        parse(doc)


# -- the branch's screens ---------------------------------------------------------------------------


def test_the_branch_s_screens_name_a_centre_operator_as_the_input_centre() -> None:
    from office.console.texts import Texts

    ja, en = Texts("ja", SITE), Texts("en", SITE)
    assert ja.holder("ward:tanaka") == "集中入力センター（tanaka）"
    assert en.holder("ward:tanaka") == "input centre (tanaka)"
    assert ja.holder("suzuki") == "suzuki"  # a branch user by their own name
    # An answer naming the holder says who it is in the same words.
    said = ja.say("{number} is already being worked on by {user}", {"number": 2001, "user": "ward:tanaka"})
    assert "集中入力センター（tanaka）" in said and "ward:" not in said


def test_a_stale_refusal_reaches_the_centre_as_a_template_its_console_translates() -> None:
    from office.console.texts import Texts

    with pytest.raises(ward_input.Refused) as refused:
        ward_input.accept(sealed(NOW - 75_000), OfficeVerifier(CENTRE.public_key), "chuo", NOW)
    assert refused.value.template == ward_input.TOO_OLD and refused.value.params == {"seconds": 75}
    assert refused.value.request is not None and refused.value.request.operator == "tanaka"
    assert "75秒前" in Texts("ja", SITE).say(refused.value.template, refused.value.params)
