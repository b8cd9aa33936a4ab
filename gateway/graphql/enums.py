"""GraphQL enums, mirrored from the services' Python enums so the two cannot drift."""

from __future__ import annotations

from enum import Enum

import strawberry

from gateway.errors import ErrorCode
from gateway.identity import IdentityKind

ErrorCodeEnum = strawberry.enum(ErrorCode, name="ErrorCode", description="Why a request was refused.")
IdentityKindEnum = strawberry.enum(IdentityKind, name="IdentityKind", description="How a member is recognised.")


@strawberry.enum(name="MemberStatus")
class MemberStatusEnum(Enum):
    """Whether a member can earn and redeem."""

    ACTIVE = "active"
    FROZEN = "frozen"
    MERGED = "merged"
    ERASED = "erased"


@strawberry.enum(name="PostingKind")
class PostingKindEnum(Enum):
    """What a posting did: earned, redeemed, adjusted by an admin, released pending points, expired points,
    refunded an activity (reverse), cancelled a redemption ..."""

    EARN = "earn"
    REDEEM = "redeem"
    ADJUST = "adjust"
    RELEASE = "release"
    EXPIRE = "expire"
    HOLD = "hold"
    CAPTURE = "capture"
    VOID = "void"
    OFFSET = "offset"
    REVERSE = "reverse"
    CANCEL = "cancel"
    MERGE = "merge"
