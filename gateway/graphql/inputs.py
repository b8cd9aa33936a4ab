"""GraphQL inputs shared by queries and mutations, and their conversion to service values."""

from __future__ import annotations

from datetime import date

import strawberry
from strawberry import relay

from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.context import Context
from gateway.graphql.enums import IdentityKindEnum
from gateway.identity import IdentityKey, IdentityKind, normalize_identity
from gateway.ledger.postings import MemberRef


@strawberry.input(description="A phone, an email, or a format's own customer id (give `format`).")
class IdentityInput:
    kind: IdentityKindEnum
    value: str
    format: str | None = strawberry.field(default=None, description="Issuing format, for CUSTOMER_ID only.")


@strawberry.input(one_of=True, description="Who: the member's global `id`, or one of its identities.")
class MemberRefInput:
    id: strawberry.ID | None = strawberry.UNSET
    identity: IdentityInput | None = strawberry.UNSET


@strawberry.input
class EnrolInput:
    identity: IdentityInput
    birth_date: date | None = strawberry.field(
        default=None, description="Optional; unlocks birthday-month campaigns and benefits. Erased on request."
    )


@strawberry.input
class LinkIdentityInput:
    member: MemberRefInput
    identity: IdentityInput


@strawberry.input
class RedeemInput:
    format: str = strawberry.field(description="Format offering the reward, e.g. dining.")
    reward: str = strawberry.field(description="Reward code within the format, e.g. dessert_voucher.")
    quantity: int = 1
    idempotency_key: str = strawberry.field(description="Unique per redemption; a retry with the same key is safe.")
    member: MemberRefInput | None = strawberry.field(
        default=None, description="Whose points; omit with a member token to redeem your own."
    )


def identity_key(context: Context, value: IdentityInput, field: str) -> IdentityKey:
    """Validate and normalise an identity input."""
    if value.format is not None and value.kind.value != IdentityKind.CUSTOMER_ID.value:
        raise AtriumError(ErrorCode.INVALID_IDENTITY, "Only a CUSTOMER_ID has a format.", f"{field}.format")
    core = context.core
    return normalize_identity(
        IdentityKind(value.kind.value),
        value.value,
        namespace=value.format,
        formats=core.registry.formats,
        phone_region=core.settings.default_phone_region,
        field=field,
    )


def member_id_from_global(value: str, field: str) -> int:
    """The member number inside a Member global id."""
    try:
        global_id = relay.GlobalID.from_id(value)
        if global_id.type_name != "Member":
            raise ValueError(global_id.type_name)
        return int(global_id.node_id)
    except Exception:
        raise AtriumError(ErrorCode.INVALID_INPUT, f"{value!r} is not a Member id.", field) from None


def member_ref(context: Context, value: MemberRefInput, field: str = "member") -> MemberRef:
    """A service-level member reference from the oneOf input."""
    if value.id:
        return MemberRef(member_id=member_id_from_global(str(value.id), f"{field}.id"))
    if value.identity:
        return MemberRef(identity=identity_key(context, value.identity, f"{field}.identity"))
    raise AtriumError(ErrorCode.INVALID_INPUT, "Give the member's id or an identity.", field)
