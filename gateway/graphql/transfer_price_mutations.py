"""Admins set and remove the transfer prices settlement values points at, from a day on; each change is audited."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry
from strawberry.types import Info

from gateway.auth import Role
from gateway.graphql.context import Context
from gateway.graphql.mutations import as_payload
from gateway.graphql.settlement import TransferPrice
from gateway.graphql.types import UserError
from gateway.settlement.price_changes import remove_transfer_price, set_transfer_price


@strawberry.input(description="Set a transfer price: give issuer and redeemer for a pair's override, neither for the group default.")
class SetTransferPriceInput:
    issuer: str | None = strawberry.field(default=None, description="Issuing format code, or `group` (admin credits).")
    redeemer: str | None = strawberry.field(default=None, description="Redeeming format code.")
    price_per_point: Decimal = strawberry.field(description="Minor units per point, 0 to 100000, at most 4 decimals: \"0.8\" is 0.8 fen.")
    effective_from: date | None = strawberry.field(
        default=None,
        description="First day the change applies (group time zone); default today. Periods before it keep their prices; "
        "a day on or before the last closed settlement day is refused (PERIOD_CLOSED).",
    )
    reason: str = strawberry.field(description="Why, for the audit log (1 to 500 characters).")


@strawberry.input(description="End a pair's override (it then settles at the default) or the configured default, from a day on.")
class RemoveTransferPriceInput:
    issuer: str | None = None
    redeemer: str | None = None
    effective_from: date | None = strawberry.field(
        default=None,
        description="First day the change applies (group time zone); default today. Periods before it keep their prices; "
        "a day on or before the last closed settlement day is refused (PERIOD_CLOSED).",
    )
    reason: str = strawberry.field(description="Why, for the audit log (1 to 500 characters).")


@strawberry.type(description="The price as set (or the price that stops applying, when removed).")
class TransferPricePayload:
    price: TransferPrice | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TransferPriceMutation:
    @strawberry.mutation(description="Set the group default transfer price or a pair's override from a day on (admin only); audited.")
    async def set_transfer_price(self, info: Info[Context, None], input: SetTransferPriceInput) -> TransferPricePayload:
        async def work() -> TransferPricePayload:
            principal = info.context.require_role(Role.ADMIN)
            stored = await set_transfer_price(
                info.context.core,
                issuer=input.issuer,
                redeemer=input.redeemer,
                price=input.price_per_point,
                effective_from=input.effective_from,
                actor=principal.subject,
                reason=input.reason,
                now=info.context.now(),
                field="input",
            )
            return TransferPricePayload(price=TransferPrice.from_row(stored))

        return await as_payload(TransferPricePayload, work)

    @strawberry.mutation(description="End a transfer price override or the configured default from a day on (admin only); audited.")
    async def remove_transfer_price(self, info: Info[Context, None], input: RemoveTransferPriceInput) -> TransferPricePayload:
        async def work() -> TransferPricePayload:
            principal = info.context.require_role(Role.ADMIN)
            removed = await remove_transfer_price(
                info.context.core,
                issuer=input.issuer,
                redeemer=input.redeemer,
                effective_from=input.effective_from,
                actor=principal.subject,
                reason=input.reason,
                now=info.context.now(),
                field="input",
            )
            return TransferPricePayload(price=TransferPrice.from_row(removed))

        return await as_payload(TransferPricePayload, work)
