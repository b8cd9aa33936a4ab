"""Who is calling: signed bearer tokens (PyJWT) and the rules of what each role may touch.

Roles: ``member`` (only itself), ``service`` (a business format's till or billing system, only its
format), ``admin`` (the group). Everything is denied unless a rule here allows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

import jwt

from gateway.errors import AtriumError, ErrorCode
from gateway.settings import Settings


class Role(str, Enum):
    """What kind of caller a token stands for."""

    MEMBER = "member"
    SERVICE = "service"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its role, and the member or format it is bound to."""

    role: Role
    subject: str
    member_id: int | None = None
    format: str | None = None

    def can_act_for_format(self, format_code: str) -> bool:
        """Whether the caller may write in ``format_code`` (record its activities, redeem its rewards)."""
        return self.role is Role.ADMIN or (self.role is Role.SERVICE and self.format == format_code)

    def can_see_member(self, member_id: int) -> bool:
        """Whether the caller may read ``member_id``: the member itself, any service, an admin."""
        if self.role is Role.MEMBER:
            return self.member_id == member_id
        return True

    def can_act_for_member(self, member_id: int) -> bool:
        """Whether the caller may spend ``member_id``'s points: itself, a service of the format, admin."""
        return self.can_see_member(member_id)


def forbidden(message: str, field: str | None = None) -> AtriumError:
    """A ``FORBIDDEN`` error with a readable message."""
    return AtriumError(ErrorCode.FORBIDDEN, message, field)


def mint_token(
    settings: Settings,
    *,
    role: Role,
    member_id: int | None = None,
    format_code: str | None = None,
    ttl: timedelta = timedelta(days=30),
    now: datetime | None = None,
    subject: str | None = None,
) -> str:
    """Sign a token for ``role`` (development and tests; production tokens come from the group's IdP).

    ``subject`` names the person or till behind the token (``alice``, ``till-7``); postings record it
    (:mod:`gateway.actor`). Without it: ``admin``, ``service:<format>`` or ``member:<id>``.
    """
    if role is Role.MEMBER and member_id is None:
        raise ValueError("a member token needs member_id")
    if role is Role.SERVICE and not format_code:
        raise ValueError("a service token needs format_code")
    issued = now or datetime.now(UTC)
    default = {Role.MEMBER: f"member:{member_id}", Role.SERVICE: f"service:{format_code}", Role.ADMIN: "admin"}[role]
    subject = subject or default
    claims: dict[str, object] = {
        "sub": subject,
        "role": role.value,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
    }
    if member_id is not None:
        claims["member_id"] = member_id
    if format_code:
        claims["format"] = format_code
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)


def principal_from_header(settings: Settings, authorization: str | None) -> Principal | None:
    """The caller behind an ``Authorization: Bearer`` header; ``None`` when there is no header.

    :raises AtriumError: ``UNAUTHENTICATED`` for a malformed, expired or wrongly signed token.
    """
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AtriumError(ErrorCode.UNAUTHENTICATED, "Use 'Authorization: Bearer <token>'.")
    try:
        claims = jwt.decode(
            token.strip(),
            settings.jwt_secret,
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "role"]},
        )
        role = Role(claims["role"])
        member_id = claims.get("member_id")
        format_code = claims.get("format")
        if role is Role.MEMBER and not isinstance(member_id, int):
            raise ValueError("member token without member_id")
        if role is Role.SERVICE and not isinstance(format_code, str):
            raise ValueError("service token without format")
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise AtriumError(ErrorCode.UNAUTHENTICATED, f"The bearer token is not valid: {exc}.") from None
    return Principal(role=role, subject=str(claims["sub"]), member_id=member_id, format=format_code)
