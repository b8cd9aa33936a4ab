"""Refunds for the system tests, when the schema has them: found by introspection, not assumed.

The ``refundActivity`` mutation is being added alongside these tests. Rather than guess its
signature, :func:`plan_refund` reads it from the running gateway and fills in what it recognises:
the refunded posting's (or activity's) id, its format, a fresh idempotency key, the member, a
reason, and the amount refunded (``MoneyInput`` or ``Decimal``: all that is left, or half of it) or
a fraction. A required argument it
does not recognise leaves refunds out, and says why in the test's report.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx

from tests.system.servers import post_graphql

REFUND_FIELD = "refundActivity"

_TYPE_REF = "kind name ofType { kind name ofType { kind name ofType { kind name } } }"
MUTATION_FIELDS = f"""
query MutationFields {{
  __schema {{ mutationType {{ fields {{ name args {{ name defaultValue type {{ {_TYPE_REF} }} }} type {{ {_TYPE_REF} }} }} }} }}
}}"""
TYPE_FIELDS = f"""
query TypeFields($name: String!) {{
  __type(name: $name) {{
    kind name
    inputFields {{ name defaultValue type {{ {_TYPE_REF} }} }}
    fields {{ name type {{ {_TYPE_REF} }} }}
  }}
}}"""


@dataclass(frozen=True)
class Refundable:
    """An acknowledged earn a writer may refund: whose, which posting, and what is left to refund."""

    format: str
    member_id: str
    posting_id: str
    amount: Decimal
    currency: str = "CNY"


@dataclass(frozen=True)
class RefundCall:
    """Variables of one refund request and what it asks for."""

    variables: dict[str, Any]
    partial: bool
    refunded: Decimal
    """The amount this call refunds (all that is left when the plan takes no amount)."""


@dataclass(frozen=True)
class RefundPlan:
    """How to call ``refundActivity`` on this gateway: the document and a variables builder."""

    document: str
    selects_posting: bool
    supports_partial: bool
    build: Callable[[Refundable, str, bool], RefundCall]
    signature: str


def _unwrap(ref: dict[str, Any]) -> tuple[str, str, bool]:
    """``(kind, name, required)`` of a type reference (lists are reported as kind ``LIST``)."""
    required = ref["kind"] == "NON_NULL"
    if required:
        ref = ref["ofType"]
    if ref["kind"] == "LIST":
        return "LIST", "", required
    return ref["kind"], ref["name"], required


def _render(ref: dict[str, Any]) -> str:
    """A type reference as GraphQL type syntax, e.g. ``RefundActivityInput!``."""
    if ref["kind"] == "NON_NULL":
        return _render(ref["ofType"]) + "!"
    if ref["kind"] == "LIST":
        return f"[{_render(ref['ofType'])}]"
    return str(ref["name"])


def _half(amount: Decimal) -> Decimal:
    return (amount / 2).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


async def plan_refund(http: httpx.AsyncClient, base_url: str, bearer: str) -> RefundPlan | str:
    """The refund plan of the running gateway, or why there is none (a line for the report)."""
    kind, data = await post_graphql(http, base_url, bearer, MUTATION_FIELDS, {})
    if kind != "ok":
        return f"introspection failed ({kind}: {str(data)[:200]})"
    fields = {f["name"]: f for f in data["__schema"]["mutationType"]["fields"]}
    if REFUND_FIELD not in fields:
        return f"the schema has no {REFUND_FIELD} mutation yet"
    field = fields[REFUND_FIELD]
    types: dict[str, dict[str, Any]] = {}

    async def type_info(name: str) -> dict[str, Any]:
        if name not in types:
            kind, data = await post_graphql(http, base_url, bearer, TYPE_FIELDS, {"name": name})
            if kind != "ok" or data["__type"] is None:
                raise LookupError(f"cannot introspect type {name}")
            types[name] = data["__type"]
        return types[name]

    partial_slots: list[str] = []

    async def filler(name: str, ref: dict[str, Any], path: str) -> Callable[[Refundable, str, bool], Any] | None:
        """A function giving the value of one slot, ``None`` to leave an optional one out.

        Raises ``LookupError`` for a required slot it cannot fill.
        """
        kind, type_name, required = _unwrap(ref)
        low = name.lower()
        if kind == "SCALAR" and (low in ("key", "idempotencykey") or low.endswith("idempotencykey")):
            return lambda r, key, partial: key
        if kind == "INPUT_OBJECT" and type_name == "MemberRefInput":
            return lambda r, key, partial: {"id": r.member_id}
        if kind == "SCALAR" and type_name == "ID":
            return lambda r, key, partial: r.posting_id
        if kind == "INPUT_OBJECT" and type_name == "MoneyInput" and "amount" in low:
            partial_slots.append(path)
            if required:
                return lambda r, key, partial: {"amount": str(_half(r.amount) if partial else r.amount), "currency": r.currency}
            return lambda r, key, partial: {"amount": str(_half(r.amount)), "currency": r.currency} if partial else None
        if kind == "SCALAR" and type_name in ("Decimal", "String", "Float") and "amount" in low:
            partial_slots.append(path)
            if required:
                return lambda r, key, partial: str(_half(r.amount) if partial else r.amount)
            return lambda r, key, partial: str(_half(r.amount)) if partial else None
        if kind == "SCALAR" and re.search("fraction|ratio|share|proportion|percent", low):
            partial_slots.append(path)
            full = "100" if "percent" in low else "1"
            half = "50" if "percent" in low else "0.5"
            if required:
                return lambda r, key, partial: half if partial else full
            return lambda r, key, partial: half if partial else None
        if kind == "SCALAR" and type_name == "String" and low in ("format", "formatcode"):
            return lambda r, key, partial: r.format
        if kind == "SCALAR" and type_name == "String" and "currency" in low:
            return lambda r, key, partial: r.currency
        if kind == "SCALAR" and type_name == "String" and re.search("reason|note|comment|description", low):
            return lambda r, key, partial: "system test refund"
        if kind == "INPUT_OBJECT" and required:
            info = await type_info(type_name)
            parts: list[tuple[str, Callable[[Refundable, str, bool], Any]]] = []
            for sub in info["inputFields"] or []:
                sub_ref = sub["type"] if sub["defaultValue"] is None else _nullable(sub["type"])
                function = await filler(sub["name"], sub_ref, f"{path}.{sub['name']}")
                if function is not None:
                    parts.append((sub["name"], function))

            def build_object(r: Refundable, key: str, partial: bool) -> dict[str, Any]:
                values = {sub: function(r, key, partial) for sub, function in parts}
                return {sub: value for sub, value in values.items() if value is not None}

            return build_object
        if required:
            raise LookupError(f"required {path}: {_render(ref)} is not understood")
        return None

    args: list[tuple[str, str, Callable[[Refundable, str, bool], Any]]] = []
    try:
        for arg in field["args"]:
            ref = arg["type"] if arg["defaultValue"] is None else _nullable(arg["type"])
            function = await filler(arg["name"], ref, arg["name"])
            if function is not None:
                args.append((arg["name"], _render(arg["type"]), function))
        _, payload_name, _ = _unwrap(field["type"])
        payload = await type_info(payload_name)
    except LookupError as exc:
        return f"{REFUND_FIELD} left out: {exc}"
    payload_fields = {f["name"]: _unwrap(f["type"]) for f in payload["fields"] or []}
    if "errors" not in payload_fields:
        return f"{REFUND_FIELD} left out: its payload {payload_name} has no errors field"
    selects_posting = payload_fields.get("posting", ("", "", False))[1] == "Posting"
    selection = "errors { code field message }" + (" posting { id points balanceAfter replayed }" if selects_posting else "")
    variables = ", ".join(f"${name}: {rendered}" for name, rendered, _ in args)
    call = ", ".join(f"{name}: ${name}" for name, _, _ in args)
    document = f"mutation Refund({variables}) {{ {REFUND_FIELD}({call}) {{ {selection} }} }}"

    def build(refundable: Refundable, key: str, partial: bool) -> RefundCall:
        partial = partial and bool(partial_slots) and _half(refundable.amount) > 0
        values = {name: function(refundable, key, partial) for name, _, function in args}
        refunded = _half(refundable.amount) if partial else refundable.amount
        return RefundCall({name: value for name, value in values.items() if value is not None}, partial, refunded)

    signature = f"{REFUND_FIELD}({', '.join(f'{a}: {r}' for a, r, _ in args)})"
    return RefundPlan(document, selects_posting, bool(partial_slots), build, signature)


def _nullable(ref: dict[str, Any]) -> dict[str, Any]:
    """An argument type seen as optional (it has a default, or is nullable)."""
    return ref["ofType"] if ref["kind"] == "NON_NULL" else ref
