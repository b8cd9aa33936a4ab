"""The ``BigInt`` scalar: a JSON number while exact in a float64 (|n| < 2^53), a string of digits beyond."""

from __future__ import annotations

import pytest
import strawberry

from gateway.graphql.scalars import (
    BigInt,
    parse_big_int,
    schema_config,
    serialize_big_int,
)


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        (0, 0),
        (2**31, 2**31),
        (-(2**31) - 1, -(2**31) - 1),
        (2**53 - 1, 2**53 - 1),
        (-(2**53) + 1, -(2**53) + 1),
        (2**53, "9007199254740992"),
        (-(2**53), "-9007199254740992"),
        (10**30, "1" + "0" * 30),
    ],
)
def test_safe_integers_are_numbers_and_larger_ones_strings(value: int, sent: int | str) -> None:
    assert serialize_big_int(value) == sent


@pytest.mark.parametrize("value", [True, 1.5, "12", None])
def test_only_whole_numbers_are_sent(value: object) -> None:
    with pytest.raises(TypeError):
        serialize_big_int(value)


@pytest.mark.parametrize(("given", "parsed"), [(7, 7), ("9007199254740993", 2**53 + 1), ("-12", -12), (" 5 ", 5)])
def test_inputs_may_be_numbers_or_strings_of_digits(given: object, parsed: int) -> None:
    assert parse_big_int(given) == parsed


@pytest.mark.parametrize("given", ["1e3", "12.0", "", "-", True, 1.0, "١٢"])
def test_other_inputs_are_refused(given: object) -> None:
    with pytest.raises(ValueError):
        parse_big_int(given)


def test_a_schema_serves_and_reads_big_ints_past_32_bits() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def issued(self, plus: BigInt) -> BigInt:
            return BigInt(3_000_000_000 + plus)

    schema = strawberry.Schema(query=Query, config=schema_config())

    result = schema.execute_sync('{ small: issued(plus: 1) huge: issued(plus: "9007199254740993") }')

    assert result.errors is None
    assert result.data == {"small": 3_000_000_001, "huge": str(3_000_000_000 + 2**53 + 1)}
    assert "scalar BigInt" in schema.as_str()
