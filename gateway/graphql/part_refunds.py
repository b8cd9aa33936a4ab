"""The ``refund<Format><Kind>`` mutations: a till refunds parts of an activity (returned lines), composed at start-up.

An activity kind whose plugin declares ``refund_input_type`` and ``to_refund`` gets one, next to
its ``record<Format><Kind>``; the generic ``refundActivity`` (an amount) stays for every kind.
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from gateway.auth import Role, forbidden
from gateway.graphql.context import Context
from gateway.graphql.error_fields import PART_REFUND_ARGUMENTS
from gateway.graphql.mutations import as_payload, posting_payload
from gateway.graphql.reversal_mutations import RefundActivityPayload
from gateway.ledger.part_refund import PartRefundRequest, refund_parts
from gateway.plugin_api import ActivityKind


def _camel(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_"))


def refund_field_name(kind: ActivityKind) -> str:
    """The mutation name of a kind's refund by parts: ``refund`` + format + kind, camel-cased."""
    return f"refund{_camel(kind.format)}{_camel(kind.name)}"


def refund_mutation(kind: ActivityKind) -> Any:
    """The strawberry mutation field refunding parts of ``kind``'s activities (the format's service account or an admin)."""

    async def resolve(info, original, idempotency_key, input):  # type: ignore[no-untyped-def]
        async def work() -> RefundActivityPayload:
            principal = info.context.require_role(Role.SERVICE, Role.ADMIN)
            if not principal.can_act_for_format(kind.format):
                raise forbidden(f"A {principal.format} service account cannot refund {kind.format} activity.")
            request = PartRefundRequest(
                format=kind.format, kind=kind.name, original_key=original, idempotency_key=idempotency_key, input=input
            )
            result = await refund_parts(info.context.core, request, now=info.context.now())
            return posting_payload(info, RefundActivityPayload, result)

        return await as_payload(RefundActivityPayload, work, arguments=PART_REFUND_ARGUMENTS)

    resolve.__name__ = resolve.__qualname__ = f"refund_{kind.format}_{kind.name}"
    resolve.__annotations__ = {
        "info": Info[Context, None],
        "original": Annotated[
            str, strawberry.argument(description="The activity's idempotency key: the receipt or bill id it was recorded with.")
        ],
        "idempotency_key": Annotated[
            str, strawberry.argument(description="The refund slip id: a retry with the same key refunds once.")
        ],
        "input": kind.refund_input_type,
        "return": RefundActivityPayload,
    }
    description = (
        f"Refund parts of a {kind.format} {kind.name.replace('_', ' ')} (the format's service account or admin): "
        "the plugin works out the money from the recorded activity and claws back what those parts earned."
    )
    return strawberry.mutation(resolver=resolve, name=refund_field_name(kind), description=description)
