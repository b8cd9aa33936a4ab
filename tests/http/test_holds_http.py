"""Over HTTP: tills hold, capture and void points and pay bills with points plus cash; who may do what."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.core import Core
from gateway.settings import Settings
from tests.conftest import statements_of
from tests.http.graphql import ENROL, PHONE, RETAIL_PURCHASE, Caller, caller, purchase

OTHER_PHONE = {"kind": "PHONE", "value": "139 0013 9000"}

PLACE = """
mutation Place($input: PlaceHoldInput!) {
  placeHold(input: $input) {
    hold { key format points status expiresAt lapsed }
    posting { kind points balanceAfter replayed }
    member { pointsBalance heldPoints }
    errors { code field message }
  }
}"""

CAPTURE = """
mutation Capture($input: CaptureHoldInput!) {
  captureHold(input: $input) {
    hold { key status }
    posting { kind points balanceAfter details replayed }
    member { pointsBalance heldPoints }
    errors { code field message }
  }
}"""

VOID = """
mutation Void($input: VoidHoldInput!) {
  voidHold(input: $input) {
    hold { key status lapsed }
    posting { kind points balanceAfter }
    member { pointsBalance heldPoints }
    errors { code field message }
  }
}"""

QUOTE = """
query Quote($member: MemberRefInput, $format: String!, $bill: MoneyInput!) {
  pointsOffsetQuote(member: $member, format: $format, bill: $bill) {
    format currency bill points offset cash maxPoints balance pointsValueMinor capPercent
  }
}"""

APPLY = """
mutation Apply($input: ApplyPointsOffsetInput!) {
  applyPointsOffset(input: $input) {
    posting { kind format points balanceAfter amount currency details replayed }
    member { pointsBalance }
    errors { code field message }
  }
}"""

ME = "{ me { pointsBalance heldPoints } }"


async def _member_with_points(client: httpx.AsyncClient, settings: Settings, yuan: int = 500) -> int:
    """Enrol the member of ``PHONE`` and give it ``yuan`` points from a retail purchase; its number."""
    retail = caller(client, settings, "service", format="retail")
    number = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]["number"]
    earned = await retail.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE,
        {"member": {"identity": PHONE}, "key": "R-1", "input": purchase(("A", "grocery", 1, f"{yuan}.00"))},
    )
    assert earned["errors"] == []
    return int(number)


def _place(points: int = 200, key: str = "TILL-1", format: str = "dining") -> dict[str, Any]:
    return {"input": {"member": {"identity": PHONE}, "format": format, "points": points, "idempotencyKey": key}}


def _codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["errors"]]


# --- holds -------------------------------------------------------------------------------------


async def test_a_till_holds_points_and_the_member_sees_them_held(client: httpx.AsyncClient, settings: Settings) -> None:
    number = await _member_with_points(client, settings)
    dining = caller(client, settings, "service", format="dining")

    placed = await dining.mutate("placeHold", PLACE, _place())

    assert placed["errors"] == []
    assert placed["hold"] | {"expiresAt": None} == {
        "key": "TILL-1", "format": "dining", "points": 200, "status": "HELD", "expiresAt": None, "lapsed": False,
    }
    assert placed["posting"] == {"kind": "HOLD", "points": -200, "balanceAfter": 300, "replayed": False}
    assert placed["member"] == {"pointsBalance": 300, "heldPoints": 200}
    member = caller(client, settings, "member", member_id=number)
    assert (await member.data(ME))["me"] == {"pointsBalance": 300, "heldPoints": 200}


async def test_a_till_captures_part_of_a_hold_and_the_rest_comes_back(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings)
    dining = caller(client, settings, "service", format="dining")
    await dining.mutate("placeHold", PLACE, _place())

    captured = await dining.mutate(
        "captureHold", CAPTURE, {"input": {"format": "dining", "hold": "TILL-1", "points": 150, "idempotencyKey": "PAY-1"}}
    )

    assert captured["errors"] == []
    assert captured["hold"] == {"key": "TILL-1", "status": "CAPTURED"}
    assert (captured["posting"]["kind"], captured["posting"]["points"], captured["posting"]["balanceAfter"]) == ("CAPTURE", 50, 350)
    assert captured["posting"]["details"]["capturedPoints"] == 150
    assert captured["member"] == {"pointsBalance": 350, "heldPoints": 0}


async def test_a_till_voids_a_hold(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings)
    dining = caller(client, settings, "service", format="dining")
    await dining.mutate("placeHold", PLACE, _place())

    voided = await dining.mutate("voidHold", VOID, {"input": {"format": "dining", "hold": "TILL-1", "idempotencyKey": "VOID-1"}})

    assert voided["errors"] == []
    assert voided["hold"] == {"key": "TILL-1", "status": "VOIDED", "lapsed": False}
    assert voided["posting"] == {"kind": "VOID", "points": 200, "balanceAfter": 500}
    assert voided["member"] == {"pointsBalance": 500, "heldPoints": 0}


async def test_a_second_capture_is_a_typed_hold_not_active_error(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings)
    dining = caller(client, settings, "service", format="dining")
    await dining.mutate("placeHold", PLACE, _place())
    await dining.mutate("captureHold", CAPTURE, {"input": {"format": "dining", "hold": "TILL-1", "idempotencyKey": "PAY-1"}})

    again = await dining.mutate("captureHold", CAPTURE, {"input": {"format": "dining", "hold": "TILL-1", "idempotencyKey": "PAY-2"}})

    assert again["posting"] is None
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("HOLD_NOT_ACTIVE", "input.hold")]


async def test_a_service_account_cannot_hold_points_for_another_format(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings)
    retail = caller(client, settings, "service", format="retail")

    placed = await retail.mutate("placeHold", PLACE, _place(format="dining"))

    assert placed["hold"] is None and _codes(placed) == ["FORBIDDEN"]


async def test_a_service_account_cannot_capture_another_formats_hold(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings)
    await caller(client, settings, "service", format="dining").mutate("placeHold", PLACE, _place())
    retail = caller(client, settings, "service", format="retail")

    captured = await retail.mutate("captureHold", CAPTURE, {"input": {"format": "dining", "hold": "TILL-1", "idempotencyKey": "PAY-1"}})
    voided = await retail.mutate("voidHold", VOID, {"input": {"format": "dining", "hold": "TILL-1", "idempotencyKey": "VOID-1"}})

    assert _codes(captured) == ["FORBIDDEN"] and _codes(voided) == ["FORBIDDEN"]


async def test_a_member_token_cannot_hold_its_own_points(client: httpx.AsyncClient, settings: Settings) -> None:
    number = await _member_with_points(client, settings)
    member = caller(client, settings, "member", member_id=number)

    placed = await member.mutate("placeHold", PLACE, _place())

    assert _codes(placed) == ["FORBIDDEN"]


async def test_an_admin_may_hold_in_any_format(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings)
    admin = caller(client, settings, "admin")

    placed = await admin.mutate("placeHold", PLACE, _place(format="property"))

    assert placed["errors"] == [] and placed["hold"]["format"] == "property"


async def test_reading_held_points_costs_no_extra_statement(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    number = await _member_with_points(client, settings)
    await caller(client, settings, "service", format="dining").mutate("placeHold", PLACE, _place())
    member = caller(client, settings, "member", member_id=number)

    with statements_of(core) as balance_only:
        await member.data("{ me { pointsBalance } }")
    with statements_of(core) as with_held:
        await member.data(ME)

    assert len(balance_only) == len(with_held) == 1


# --- points plus cash --------------------------------------------------------------------------


async def test_a_till_quotes_and_applies_points_plus_cash(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings, yuan=1500)
    property_till = caller(client, settings, "service", format="property")
    bill = {"amount": "20.00", "currency": "CNY"}

    quote = (await property_till.data(QUOTE, {"member": {"identity": PHONE}, "format": "property", "bill": bill}))["pointsOffsetQuote"]
    applied = await property_till.mutate(
        "applyPointsOffset", APPLY,
        {"input": {"member": {"identity": PHONE}, "format": "property", "bill": bill, "points": quote["points"], "idempotencyKey": "BILL-1"}},
    )

    assert quote == {
        "format": "property", "currency": "CNY", "bill": "20.00", "points": 1000, "offset": "10.00", "cash": "10.00",
        "maxPoints": 1000, "balance": 1500, "pointsValueMinor": 1, "capPercent": 50,
    }
    assert applied["errors"] == []
    posting = applied["posting"]
    assert (posting["kind"], posting["points"], posting["balanceAfter"], posting["amount"]) == ("OFFSET", -1000, 500, "20.00")
    assert (posting["details"]["offsetMinor"], posting["details"]["cashMinor"]) == (1000, 1000)
    assert applied["member"] == {"pointsBalance": 500}


async def test_an_offset_replay_over_http_returns_the_original(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings, yuan=1500)
    property_till = caller(client, settings, "service", format="property")
    variables = {"input": {"member": {"identity": PHONE}, "format": "property", "bill": {"amount": "20.00", "currency": "CNY"}, "points": 400, "idempotencyKey": "BILL-1"}}
    await property_till.mutate("applyPointsOffset", APPLY, variables)

    replay = await property_till.mutate("applyPointsOffset", APPLY, variables)

    assert replay["posting"]["replayed"] is True and replay["member"] == {"pointsBalance": 1100}


async def test_a_member_quotes_its_own_points(client: httpx.AsyncClient, settings: Settings) -> None:
    number = await _member_with_points(client, settings)
    member = caller(client, settings, "member", member_id=number)

    quote = (await member.data(QUOTE, {"format": "dining", "bill": {"amount": "100.00", "currency": "CNY"}}))["pointsOffsetQuote"]

    assert (quote["points"], quote["cash"]) == (500, "95.00")


async def test_a_member_cannot_quote_someone_elses_points(client: httpx.AsyncClient, settings: Settings) -> None:
    number = await _member_with_points(client, settings)
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": OTHER_PHONE})
    member = caller(client, settings, "member", member_id=number)

    body = await member.raw(QUOTE, {"member": {"identity": OTHER_PHONE}, "format": "dining", "bill": {"amount": "10.00", "currency": "CNY"}})

    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_service_account_cannot_quote_another_formats_bill(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings)
    retail = caller(client, settings, "service", format="retail")

    body = await retail.raw(QUOTE, {"member": {"identity": PHONE}, "format": "dining", "bill": {"amount": "10.00", "currency": "CNY"}})

    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_member_token_cannot_apply_an_offset(client: httpx.AsyncClient, settings: Settings) -> None:
    number = await _member_with_points(client, settings)
    member: Caller = caller(client, settings, "member", member_id=number)

    applied = await member.mutate(
        "applyPointsOffset", APPLY,
        {"input": {"member": {"identity": PHONE}, "format": "dining", "bill": {"amount": "10.00", "currency": "CNY"}, "points": 100, "idempotencyKey": "BILL-1"}},
    )

    assert applied["posting"] is None and _codes(applied) == ["FORBIDDEN"]


async def test_a_bill_with_too_many_decimals_is_a_typed_error(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings)
    dining = caller(client, settings, "service", format="dining")

    applied = await dining.mutate(
        "applyPointsOffset", APPLY,
        {"input": {"member": {"identity": PHONE}, "format": "dining", "bill": {"amount": "10.001", "currency": "CNY"}, "points": 100, "idempotencyKey": "BILL-1"}},
    )

    assert [(e["code"], e["field"]) for e in applied["errors"]] == [("INVALID_AMOUNT", "input.bill.amount")]
