"""Where a typed error's ``field`` points: the GraphQL path of the argument at fault, as the client sent it.

The convention (README, "Errors"): ``field`` is the argument's name, then camelCase input fields
and list indexes as numbers down to the value at fault (``input.items.0.unitPrice``,
``member.identity.value``, ``idempotencyKey``); null when no single argument is at fault
(``INSUFFICIENT_POINTS``, ``MEMBER_FROZEN``). A front end maps it to the form input to mark.

Services and plugins know nothing of GraphQL arguments: they name fields relative to the request
they are given, in the client's camelCase (``points``, ``items.0.unitPrice``, ``amount.currency``).
Resolvers name the fields they check themselves in full (``input.member``), and
:func:`placed` nests the services' relative fields under the ``input`` argument.
"""

from __future__ import annotations

from collections.abc import Collection

from gateway.errors import AtriumError

INPUT = "input"
"""The argument every gateway mutation takes; relative fields belong under it."""

INPUT_ONLY: tuple[str, ...] = (INPUT,)
"""The arguments of a mutation that takes one ``input``: most of them."""

ACTIVITY_ARGUMENTS: tuple[str, ...] = ("member", "idempotencyKey", INPUT, "paidWith")
"""The arguments of ``record<Format><Kind>``: its service request names the first two alike."""

PART_REFUND_ARGUMENTS: tuple[str, ...] = ("original", "idempotencyKey", INPUT)
"""The arguments of ``refund<Format><Kind>``."""


def placed(error: AtriumError, arguments: Collection[str] = INPUT_ONLY) -> AtriumError:
    """``error`` with its field as a path among the mutation's ``arguments``, so clients can map it to an input.

    A field whose first segment is one of ``arguments`` is already such a path and stays; any
    other is relative to the ``input`` argument and is nested under it; null stays null.
    """
    field = error.field
    if field is None or field.split(".", 1)[0] in arguments:
        return error
    return error.with_field_prefix(INPUT)
