"""Typed errors name the argument at fault by its GraphQL path, as the client sent it, in every mutation.

The convention (README, "Errors"): ``field`` is the argument's name, then camelCase input fields
and list indexes as numbers (``input.items.0.unitPrice``, ``member.identity.value``,
``idempotencyKey``), or null when no single argument is at fault (``INSUFFICIENT_POINTS``,
``MEMBER_FROZEN``). A front end maps it to a form input, so it must lead somewhere in what the
request sent.

Every mutation of the schema (read by introspection) has cases below; a mutation without one fails
:func:`test_every_mutation_of_the_schema_has_a_case`, so a new mutation cannot escape this file.
Each case sends one bad argument over HTTP and expects a code and a field; the field is then
resolved against the request's variables (each segment a key or list index that was sent) and
against the schema (each segment above a ``JSON`` value an input field of the argument's type),
and no such segment may be snake_case. Inside a ``JSON`` argument the segments are the client's
own keys (plugin settings are keyed by their snake_case field names) and are only resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from gateway.settings import Settings
from tests.http.graphql import ENROL, RETAIL_PURCHASE, Caller, caller, purchase

# --- the schema, as a client sees it -------------------------------------------------------------

TYPE_REF = "kind name ofType { kind name ofType { kind name ofType { kind name } } }"

INTROSPECTION = f"""
{{ __schema {{
    mutationType {{ fields {{ name args {{ name type {{ {TYPE_REF} }} }} }} }}
    types {{ name kind inputFields {{ name type {{ {TYPE_REF} }} }} }}
}} }}"""

CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z0-9]*$")
INDEX = re.compile(r"^(0|[1-9][0-9]*)$")


@dataclass(frozen=True)
class Schema:
    """The mutations' arguments and the input types' fields, each with its type reference."""

    mutations: dict[str, dict[str, dict[str, Any]]]
    inputs: dict[str, dict[str, dict[str, Any]]]


async def read_schema(client: httpx.AsyncClient) -> Schema:
    """Introspect the running gateway: no token is needed to read the schema."""
    schema = (await Caller(client, None).data(INTROSPECTION))["__schema"]
    mutations = {item["name"]: {arg["name"]: arg["type"] for arg in item["args"]} for item in schema["mutationType"]["fields"]}
    inputs = {
        item["name"]: {entry["name"]: entry["type"] for entry in item["inputFields"]}
        for item in schema["types"]
        if item["kind"] == "INPUT_OBJECT"
    }
    return Schema(mutations, inputs)


def type_text(ref: dict[str, Any]) -> str:
    """A type reference as SDL: ``[RetailLineItemInput!]!``."""
    if ref["kind"] == "NON_NULL":
        return type_text(ref["ofType"]) + "!"
    if ref["kind"] == "LIST":
        return f"[{type_text(ref['ofType'])}]"
    return str(ref["name"])


def named(ref: dict[str, Any]) -> tuple[str, bool]:
    """The named type under a reference, and whether a list is on the way."""
    listed = False
    while ref["kind"] in ("NON_NULL", "LIST"):
        listed = listed or ref["kind"] == "LIST"
        ref = ref["ofType"]
    return str(ref["name"]), listed


def operation(schema: Schema, mutation: str, variables: dict[str, Any]) -> str:
    """The request a client would send: each variable bound to the argument of its name."""
    arguments = schema.mutations[mutation]
    unknown = set(variables) - set(arguments)
    assert not unknown, f"{mutation} has no argument {sorted(unknown)}"
    declared = ", ".join(f"${name}: {type_text(arguments[name])}" for name in variables)
    passed = ", ".join(f"{name}: ${name}" for name in variables)
    return f"mutation Case({declared}) {{ {mutation}({passed}) {{ errors {{ code field message }} }} }}"


def check_path(schema: Schema, mutation: str, path: str, variables: dict[str, Any]) -> None:
    """``path`` leads to a value the request sent, through fields of the argument's input types, none snake_case."""
    segments = path.split(".")
    arguments = schema.mutations[mutation]
    head = segments[0]
    assert head in arguments, f"{path!r}: {mutation} has no argument {head!r}"
    assert head in variables, f"{path!r}: the request sent no {head!r}"
    assert CAMEL_CASE.match(head), f"{path!r}: {head!r} is not camelCase"
    value: Any = variables[head]
    type_name, listed = named(arguments[head])
    for segment in segments[1:]:
        if type_name == "JSON":  # the client's own keys: only resolved
            if isinstance(value, list):
                assert INDEX.match(segment) and int(segment) < len(value), f"{path!r}: no item {segment!r} was sent"
                value = value[int(segment)]
            else:
                assert isinstance(value, dict) and segment in value, f"{path!r}: no key {segment!r} was sent"
                value = value[segment]
            continue
        if listed:
            assert INDEX.match(segment), f"{path!r}: {segment!r} should be a list index"
            assert isinstance(value, list) and int(segment) < len(value), f"{path!r}: no item {segment} was sent"
            value, listed = value[int(segment)], False
            continue
        fields = schema.inputs.get(type_name)
        assert fields is not None and segment in fields, f"{path!r}: {type_name} has no field {segment!r}"
        assert CAMEL_CASE.match(segment), f"{path!r}: {segment!r} is not camelCase"
        assert isinstance(value, dict) and segment in value, f"{path!r}: the request sent no {segment!r}"
        value = value[segment]
        type_name, listed = named(fields[segment])


# --- the cases -----------------------------------------------------------------------------------

PHONE_A = {"kind": "PHONE", "value": "13800138000"}
NOBODY = {"kind": "PHONE", "value": "13911112222"}
A = {"identity": PHONE_A}
BAD_KEY = "two words"
"""An idempotency key with a space: ``INVALID_IDEMPOTENCY_KEY``."""


@dataclass(frozen=True)
class Case:
    """One bad argument: the variables sent, and the code and field the refusal must carry."""

    variables: dict[str, Any]
    code: str
    field: str
    role: str = "admin"
    format: str | None = None


def _tier(code: str, rank: int, threshold: int, multiplier: str = "1") -> dict[str, Any]:
    return {"code": code, "name": code.title(), "rank": rank, "threshold": threshold, "multiplier": multiplier}


def _campaign(**changes: Any) -> dict[str, Any]:
    value = {
        "code": "member_day",
        "name": "Member day",
        "startsAt": "2026-11-01T00:00:00+08:00",
        "endsAt": "2026-11-30T00:00:00+08:00",
        "reward": {"multiplier": "2"},
        "reason": "error fields",
    }
    return value | changes


def _dining_bill(**changes: Any) -> dict[str, Any]:
    return {"storeCode": "DN-01", "currency": "CNY", "foodAndBeverage": "200.00", "covers": 2} | changes


def _fee(**changes: Any) -> dict[str, Any]:
    value = {"unitCode": "T1-1201", "feeType": "MANAGEMENT", "amount": {"amount": "300.00", "currency": "CNY"}, "period": "2026-10"}
    return value | changes


def _line(**changes: Any) -> dict[str, Any]:
    return {"sku": "A", "category": "grocery", "quantity": 1, "unitPrice": "10.00"} | changes


CASES: dict[str, list[Case]] = {
    "enrol": [
        Case({"input": {"identity": {"kind": "PHONE", "value": "12"}}}, "INVALID_IDENTITY", "input.identity.value", "service", "retail"),
        Case({"input": {"identity": NOBODY, "birthDate": "2999-01-01"}}, "INVALID_INPUT", "input.birthDate"),
        Case({"input": {"identity": PHONE_A}}, "IDENTITY_TAKEN", "input.identity"),
    ],
    "linkIdentity": [
        Case({"input": {"member": A, "identity": {"kind": "EMAIL", "value": "no-at-sign"}}}, "INVALID_IDENTITY", "input.identity.value"),
        Case({"input": {"member": {"id": "not-an-id"}, "identity": NOBODY}}, "INVALID_INPUT", "input.member.id"),
        Case({"input": {"member": {"identity": NOBODY}, "identity": {"kind": "EMAIL", "value": "a@example.com"}}}, "MEMBER_NOT_FOUND", "input.member"),
    ],
    "redeem": [
        Case({"input": {"format": "dining", "reward": "dessert_voucher", "quantity": 0, "idempotencyKey": "RD-1", "member": A}},
             "INVALID_QUANTITY", "input.quantity"),
        Case({"input": {"format": "dining", "reward": "caviar", "idempotencyKey": "RD-1", "member": A}}, "UNKNOWN_REWARD", "input.reward"),
        Case({"input": {"format": "dining", "reward": "dessert_voucher", "idempotencyKey": BAD_KEY, "member": A}},
             "INVALID_IDEMPOTENCY_KEY", "input.idempotencyKey"),
    ],
    "freezeMember": [
        Case({"input": {"member": A, "reason": "   "}}, "INVALID_INPUT", "input.reason"),
        Case({"input": {"member": {"identity": NOBODY}, "reason": "x"}}, "MEMBER_NOT_FOUND", "input.member"),
    ],
    "unfreezeMember": [Case({"input": {"member": A, "reason": ""}}, "INVALID_INPUT", "input.reason")],
    "adjustPoints": [
        Case({"input": {"member": A, "points": 0, "reason": "x", "idempotencyKey": "AD-1"}}, "INVALID_INPUT", "input.points"),
        Case({"input": {"member": A, "points": 5, "reason": "x", "idempotencyKey": BAD_KEY}}, "INVALID_IDEMPOTENCY_KEY", "input.idempotencyKey"),
        Case({"input": {"member": {"identity": {"kind": "PHONE", "value": "1"}}, "points": 5, "reason": "x", "idempotencyKey": "AD-1"}},
             "INVALID_IDENTITY", "input.member.identity.value"),
    ],
    "mergeMembers": [Case({"input": {"survivor": A, "merged": A, "reason": "same person"}}, "INVALID_INPUT", "input.merged")],
    "eraseMember": [Case({"input": {"member": A, "reason": " "}}, "INVALID_INPUT", "input.reason")],
    "refundActivity": [
        Case({"input": {"format": "retail", "amount": {"amount": "-1", "currency": "CNY"}, "idempotencyKey": "RF-1", "original": "R-1"}},
             "INVALID_AMOUNT", "input.amount.amount"),
        Case({"input": {"format": "retail", "amount": {"amount": "1", "currency": "CNY"}, "idempotencyKey": "RF-1", "original": "R-404"}},
             "POSTING_NOT_FOUND", "input.original"),
        Case({"input": {"format": "retail", "amount": {"amount": "1", "currency": "CNY"}, "idempotencyKey": "RF-1",
                        "originalPosting": "UG9zdGluZzo5OTk5"}},  # Posting:9999
             "POSTING_NOT_FOUND", "input.originalPosting"),
        Case({"input": {"format": "retail", "amount": {"amount": "999", "currency": "CNY"}, "idempotencyKey": "RF-1", "original": "R-1"}},
             "REFUND_EXCEEDS_ACTIVITY", "input.amount"),
    ],
    "cancelRedemption": [
        Case({"input": {"format": "dining", "idempotencyKey": "CX-1", "redemption": "RD-404"}}, "POSTING_NOT_FOUND", "input.redemption"),
        Case({"input": {"format": "dining", "idempotencyKey": "CX-1", "redemptionPosting": "UG9zdGluZzo5OTk5"}},
             "POSTING_NOT_FOUND", "input.redemptionPosting"),
        Case({"input": {"format": "dining", "idempotencyKey": "CX-1", "redemptionPosting": "nonsense"}},
             "INVALID_INPUT", "input.redemptionPosting"),
    ],
    "placeHold": [
        Case({"input": {"member": A, "format": "retail", "points": 10, "idempotencyKey": "H-1", "ttlMinutes": 0}}, "INVALID_INPUT", "input.ttlMinutes"),
        Case({"input": {"member": A, "format": "retail", "points": 0, "idempotencyKey": "H-1"}}, "INVALID_INPUT", "input.points"),
        Case({"input": {"member": A, "format": "dining", "points": 10, "idempotencyKey": "H-1"}}, "FORBIDDEN", "input.format", "service", "retail"),
    ],
    "captureHold": [Case({"input": {"format": "retail", "hold": "H-404", "idempotencyKey": "C-1"}}, "HOLD_NOT_FOUND", "input.hold")],
    "voidHold": [Case({"input": {"format": "retail", "hold": "H-404", "idempotencyKey": "V-1"}}, "HOLD_NOT_FOUND", "input.hold")],
    "applyPointsOffset": [
        Case({"input": {"member": A, "format": "retail", "bill": {"amount": "100.00", "currency": "CNY"}, "points": 0, "idempotencyKey": "O-1"}},
             "INVALID_INPUT", "input.points"),
        Case({"input": {"member": A, "format": "retail", "bill": {"amount": "100.00", "currency": "USD"}, "points": 10, "idempotencyKey": "O-1"}},
             "UNSUPPORTED_CURRENCY", "input.bill.currency"),
        Case({"input": {"member": A, "format": "retail", "bill": {"amount": "1.001", "currency": "CNY"}, "points": 10, "idempotencyKey": "O-1"}},
             "INVALID_AMOUNT", "input.bill.amount"),
    ],
    "useCoupon": [
        Case({"input": {"code": "DIN-NOSUCHCODE", "idempotencyKey": "U-1"}}, "COUPON_NOT_FOUND", "input.code"),
        Case({"input": {"code": "DIN-NOSUCHCODE", "idempotencyKey": "U-1", "till": "T" * 65}}, "INVALID_INPUT", "input.till"),
    ],
    "cancelCoupon": [Case({"input": {"code": "DIN-NOSUCHCODE", "idempotencyKey": "CC-1"}}, "COUPON_NOT_FOUND", "input.code")],
    "useBenefit": [
        Case({"input": {"benefit": "group.no_such", "idempotencyKey": "B-1", "member": A}}, "BENEFIT_NOT_FOUND", "input.benefit"),
        Case({"input": {"benefit": "dining.priority_queue", "idempotencyKey": BAD_KEY, "member": A}}, "INVALID_IDEMPOTENCY_KEY", "input.idempotencyKey"),
    ],
    "cancelBenefitUse": [Case({"input": {"idempotencyKey": "B-404"}}, "BENEFIT_NOT_FOUND", "input.idempotencyKey")],
    "createSharedBenefit": [
        Case({"input": {"code": "lounge", "name": "Lounge", "minTier": "platinum"}}, "INVALID_CONFIG", "input.minTier"),
        Case({"input": {"code": "lounge", "name": "Lounge", "minTier": "gold", "formats": ["retail", "bowling"]}}, "INVALID_CONFIG", "input.formats.1"),
        Case({"input": {"code": "lounge", "name": "Lounge", "minTier": "gold", "quota": {"count": 0, "period": "MONTH"}}},
             "INVALID_CONFIG", "input.quota.count"),
    ],
    "updateSharedBenefit": [Case({"input": {"code": "no_such", "name": "Lounge"}}, "CONFIG_NOT_FOUND", "input.code")],
    "retireSharedBenefit": [Case({"input": {"code": "no_such"}}, "CONFIG_NOT_FOUND", "input.code")],
    "updatePluginSettings": [
        Case({"input": {"format": "bowling", "values": {}, "reason": "x"}}, "PLUGIN_NOT_FOUND", "input.format"),
        Case({"input": {"format": "retail", "values": {"return_window_days": 400}, "reason": "x"}}, "INVALID_CONFIG", "input.values.return_window_days"),
        Case({"input": {"format": "retail", "values": {"return_window_days": 7}, "reason": ""}}, "INVALID_INPUT", "input.reason"),
    ],
    "resetPluginSettings": [
        Case({"input": {"format": "retail", "fields": ["return_window_days", "no_such_field"], "reason": "x"}}, "INVALID_CONFIG", "input.fields.1"),
    ],
    "createCampaign": [
        Case({"input": _campaign(scope={"formats": ["bowling"]})}, "INVALID_CONFIG", "input.scope.formats.0"),
        Case({"input": _campaign(reward={"multiplier": "abc"})}, "INVALID_CONFIG", "input.reward.multiplier"),
        Case({"input": _campaign(scope={"minAmount": {"amount": "10", "currency": "USD"}})}, "INVALID_CONFIG", "input.scope.minAmount.currency"),
    ],
    "updateCampaign": [Case({"input": _campaign(code="no_such")}, "CONFIG_NOT_FOUND", "input.code")],
    "endCampaign": [Case({"input": {"code": "no_such"}}, "CONFIG_NOT_FOUND", "input.code")],
    "setTransferPrice": [
        Case({"input": {"issuer": "retail", "redeemer": "dining", "pricePerPoint": "-1", "reason": "x"}}, "INVALID_CONFIG", "input.pricePerPoint"),
        Case({"input": {"issuer": "bowling", "redeemer": "dining", "pricePerPoint": "1", "reason": "x"}}, "UNKNOWN_FORMAT", "input.issuer"),
    ],
    "removeTransferPrice": [Case({"input": {"issuer": "retail", "redeemer": "bowling", "reason": "x"}}, "UNKNOWN_FORMAT", "input.redeemer")],
    "closeSettlementPeriod": [
        Case({"input": {"from": "2026-10-31", "to": "2026-10-01", "reason": "October paid"}}, "INVALID_INPUT", "input.to"),
        Case({"input": {"from": "2026-10-01", "to": "2026-10-31", "reason": " "}}, "INVALID_INPUT", "input.reason"),
    ],
    "setTierLadder": [
        Case({"input": {"tiers": [_tier("member", 0, 0), _tier("silver", 1, 0)]}}, "INVALID_CONFIG", "input.tiers.1.threshold"),
        Case({"input": {"tiers": [_tier("member", 0, 0, multiplier="abc")]}}, "INVALID_CONFIG", "input.tiers.0.multiplier"),
    ],
    "setTierPolicy": [Case({"input": {"windowMonths": 0}}, "INVALID_CONFIG", "input.windowMonths")],
    "assignMemberTier": [
        Case({"input": {"member": A, "tier": "platinum", "reason": "x"}}, "INVALID_INPUT", "input.tier"),
        Case({"input": {"member": A, "tier": "gold", "reason": ""}}, "INVALID_INPUT", "input.reason"),
    ],
    "recordRetailPurchase": [
        Case({"member": A, "idempotencyKey": "R-2", "input": purchase(("A", "grocery", 1, "1.234"))}, "INVALID_AMOUNT", "input.items.0.unitPrice",
             "service", "retail"),
        Case({"member": A, "idempotencyKey": "R-2", "input": {**purchase(), "items": [_line(), _line(quantity=0)]}}, "INVALID_INPUT", "input.items.1.quantity"),
        Case({"member": A, "idempotencyKey": BAD_KEY, "input": purchase(("A", "grocery", 1, "10.00"))}, "INVALID_IDEMPOTENCY_KEY", "idempotencyKey"),
        Case({"member": {"identity": {"kind": "PHONE", "value": "1"}}, "idempotencyKey": "R-2", "input": purchase(("A", "grocery", 1, "10.00"))},
             "INVALID_IDENTITY", "member.identity.value"),
        Case({"member": {"identity": NOBODY}, "idempotencyKey": "R-2", "input": purchase(("A", "grocery", 1, "10.00"))}, "MEMBER_NOT_FOUND", "member"),
    ],
    "recordDiningBill": [
        Case({"member": A, "idempotencyKey": "D-2", "input": _dining_bill(covers=0)}, "INVALID_INPUT", "input.covers", "service", "dining"),
        Case({"member": A, "idempotencyKey": "D-2", "input": _dining_bill(currency="XYZ")}, "UNSUPPORTED_CURRENCY", "input.currency"),
    ],
    "recordPropertyFeePayment": [
        Case({"member": A, "idempotencyKey": "P-1", "input": _fee(period="2026-13")}, "INVALID_INPUT", "input.period"),
        Case({"member": A, "idempotencyKey": "P-1", "input": _fee(amount={"amount": "0", "currency": "CNY"})}, "INVALID_AMOUNT", "input.amount.amount"),
    ],
    "refundRetailPurchase": [
        Case({"original": "R-1", "idempotencyKey": "RR-1", "input": {"lines": [{"line": 9, "quantity": 1}]}}, "INVALID_INPUT", "input.lines.0.line"),
        Case({"original": "R-404", "idempotencyKey": "RR-1", "input": {"lines": [{"line": 1, "quantity": 1}]}}, "POSTING_NOT_FOUND", "original"),
        Case({"original": "R-1", "idempotencyKey": BAD_KEY, "input": {"lines": [{"line": 1, "quantity": 1}]}}, "INVALID_IDEMPOTENCY_KEY", "idempotencyKey"),
    ],
    "refundDiningBill": [
        Case({"original": "D-1", "idempotencyKey": "DR-1", "input": {"tips": "0.001"}}, "INVALID_AMOUNT", "input.tips"),
        Case({"original": "D-1", "idempotencyKey": "DR-1", "input": {"foodAndBeverage": "999.00"}}, "REFUND_EXCEEDS_ACTIVITY", "input.foodAndBeverage"),
        Case({"original": "D-404", "idempotencyKey": "DR-1", "input": {"foodAndBeverage": "1.00"}}, "POSTING_NOT_FOUND", "original"),
    ],
}
"""At least one bad argument for every mutation of the schema; admin tokens unless the case says otherwise."""

DINING_BILL = """
mutation Bill($member: MemberRefInput!, $key: String!, $input: DiningBillInput!) {
  recordDiningBill(member: $member, idempotencyKey: $key, input: $input) { errors { code field message } }
}"""


@pytest.fixture
async def world(client: httpx.AsyncClient, settings: Settings) -> None:
    """Member A with a retail purchase ``R-1`` (one line, CN¥300) and a dining bill ``D-1`` (CN¥200) to refund."""
    retail = caller(client, settings, "service", format="retail")
    dining = caller(client, settings, "service", format="dining")
    assert (await retail.mutate("enrol", ENROL, {"identity": PHONE_A}))["errors"] == []
    bought = await retail.mutate("recordRetailPurchase", RETAIL_PURCHASE, {"member": A, "key": "R-1", "input": purchase(("A", "grocery", 1, "300.00"))})
    assert bought["errors"] == []
    billed = await dining.mutate("recordDiningBill", DINING_BILL, {"member": A, "key": "D-1", "input": _dining_bill()})
    assert billed["errors"] == []


# --- the tests -----------------------------------------------------------------------------------


async def test_every_mutation_of_the_schema_has_a_case(client: httpx.AsyncClient) -> None:
    schema = await read_schema(client)
    assert sorted(set(schema.mutations) - set(CASES)) == [], "mutations without an error-field case"
    assert sorted(set(CASES) - set(schema.mutations)) == [], "cases for mutations the schema does not have"


@pytest.mark.usefixtures("world")
@pytest.mark.parametrize("mutation", sorted(CASES))
async def test_a_bad_argument_is_named_by_its_path_in_the_request(
    mutation: str, client: httpx.AsyncClient, settings: Settings
) -> None:
    schema = await read_schema(client)
    for case in CASES[mutation]:
        who = caller(client, settings, case.role, format=case.format)
        payload = await who.mutate(mutation, operation(schema, mutation, case.variables), case.variables)
        got = [(error["code"], error["field"]) for error in payload["errors"]]
        assert got == [(case.code, case.field)], (case.variables, payload["errors"])
        check_path(schema, mutation, case.field, case.variables)


@dataclass(frozen=True)
class StateCase:
    """A well-formed request the state of things refuses: its field is null."""

    mutation: str
    variables: dict[str, Any]
    code: str
    setup: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


STATE_CASES = [
    StateCase("adjustPoints", {"input": {"member": A, "points": -10_000, "reason": "x", "idempotencyKey": "AD-2"}}, "INSUFFICIENT_POINTS"),
    StateCase("placeHold", {"input": {"member": A, "format": "retail", "points": 10_000, "idempotencyKey": "H-2"}}, "INSUFFICIENT_POINTS"),
    StateCase(
        "redeem",
        {"input": {"format": "dining", "reward": "dessert_voucher", "idempotencyKey": "RD-2", "member": A}},
        "MEMBER_FROZEN",
        setup=[("freezeMember", {"input": {"member": A, "reason": "fraud check"}})],
    ),
]


@pytest.mark.usefixtures("world")
@pytest.mark.parametrize("case", STATE_CASES, ids=lambda case: f"{case.mutation}-{case.code}")
async def test_a_refusal_no_single_argument_is_at_fault_for_has_a_null_field(
    case: StateCase, client: httpx.AsyncClient, settings: Settings
) -> None:
    schema = await read_schema(client)
    admin = caller(client, settings, "admin")
    for mutation, variables in case.setup:
        assert (await admin.mutate(mutation, operation(schema, mutation, variables), variables))["errors"] == []
    payload = await admin.mutate(case.mutation, operation(schema, case.mutation, case.variables), case.variables)
    assert [(error["code"], error["field"]) for error in payload["errors"]] == [(case.code, None)]


QUERY_CASES = [
    ("query Q($bill: MoneyInput!, $member: MemberRefInput) { pointsOffsetQuote(format: \"retail\", bill: $bill, member: $member) { points } }",
     {"bill": {"amount": "10.00", "currency": "USD"}, "member": A}, "UNSUPPORTED_CURRENCY", "bill.currency"),
    ("query Q($bill: MoneyInput!, $member: MemberRefInput) { pointsOffsetQuote(format: \"retail\", bill: $bill, member: $member) { points } }",
     {"bill": {"amount": "10.00", "currency": "CNY"}, "member": {"identity": NOBODY}}, "MEMBER_NOT_FOUND", "member"),
    ("query Q($input: JSON!, $member: MemberRefInput) { previewEarn(format: \"retail\", kind: \"purchase\", input: $input, member: $member) { points } }",
     {"input": purchase(("A", "grocery", 1, "1.234")), "member": A}, "INVALID_AMOUNT", "input.items.0.unitPrice"),
    ("query Q($identity: IdentityInput!) { member(identity: $identity) { id } }",
     {"identity": {"kind": "PHONE", "value": "12"}}, "INVALID_IDENTITY", "identity.value"),
    ("query Q($code: String!) { coupon(code: $code) { code } }", {"code": "DIN-NOSUCHCODE"}, "COUPON_NOT_FOUND", "code"),
]


@pytest.mark.usefixtures("world")
@pytest.mark.parametrize(("query", "variables", "code", "path"), QUERY_CASES, ids=[case[3] for case in QUERY_CASES])
async def test_a_query_names_its_bad_argument_the_same_way(
    query: str, variables: dict[str, Any], code: str, path: str, client: httpx.AsyncClient, settings: Settings
) -> None:
    body = await caller(client, settings, "admin").raw(query, variables)
    extensions = [error.get("extensions", {}) for error in body["errors"]]
    assert [(item.get("code"), item.get("field")) for item in extensions] == [(code, path)]
