"""Custom GraphQL scalars of the gateway: ``BigInt`` for point totals that outgrow GraphQL's 32-bit ``Int``.

GraphQL's ``Int`` is a signed 32-bit integer: a group's monthly points issued, redeemed or owed
pass 2,147,483,647 long before any one member's balance does, and ``Int`` would then fail the
whole response. ``BigInt`` is any whole number. It is written as a JSON **number** while it is a
safe integer (``|n| < 2^53``, exact in a JavaScript ``number`` and a float64), and as a JSON
**string** of decimal digits beyond that, so no client silently rounds it; inputs may be either.
Settlement, liability and report aggregates use it; per-member balances stay ``Int``.

Strawberry maps ``BigInt`` (a ``NewType`` of ``int``) through ``StrawberryConfig.scalar_map``
(:data:`SCALAR_MAP`): the recommended way since strawberry deprecated passing a class to
``strawberry.scalar``. Every schema that holds a ``BigInt`` field is built with :func:`schema_config`.
"""

from __future__ import annotations

from typing import Any, NewType

import strawberry
from graphql import IntValueNode, StringValueNode, ValueNode
from strawberry.schema.config import StrawberryConfig
from strawberry.types.scalar import ScalarDefinition

BigInt = NewType("BigInt", int)
"""A whole number of any size (points); annotate aggregate fields with it instead of ``int``."""

SAFE_LIMIT = 2**53
"""Integers with an absolute value below this are exact in a float64, so they are sent as JSON numbers."""


def serialize_big_int(value: Any) -> int | str:
    """``value`` for the response: the ``int`` itself while ``|value| < 2^53``, else its decimal string."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"BigInt cannot represent {value!r}: not a whole number.")
    return value if -SAFE_LIMIT < value < SAFE_LIMIT else str(value)


def parse_big_int(value: Any) -> int:
    """A variable's value: a JSON integer, or a string of decimal digits (optionally signed)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit():
            return int(text)
    raise ValueError(f"BigInt cannot represent {value!r}: give a whole number or a string of digits.")


def parse_big_int_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> int:
    """A literal in the document: ``123`` or ``"123"``."""
    if isinstance(node, IntValueNode | StringValueNode):
        return parse_big_int(int(node.value) if isinstance(node, IntValueNode) else node.value)
    raise ValueError("BigInt cannot represent a non-integer literal.")


BIG_INT: ScalarDefinition = strawberry.scalar(
    name="BigInt",
    description=(
        "A whole number of any size, for point totals that can pass 2^31 (settlement and liability aggregates). "
        "A JSON number while |n| < 2^53 (exact in JavaScript); beyond that a JSON string of decimal digits."
    ),
    serialize=serialize_big_int,
    parse_value=parse_big_int,
    parse_literal=parse_big_int_literal,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {BigInt: BIG_INT}
"""The gateway's custom scalars, for ``StrawberryConfig(scalar_map=...)``."""


def schema_config() -> StrawberryConfig:
    """The strawberry configuration every gateway schema is built with (it knows :data:`BigInt`)."""
    return StrawberryConfig(scalar_map=SCALAR_MAP)
