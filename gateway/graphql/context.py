"""Per-request GraphQL context: the core, the caller, and data loaders (no N+1 across a request)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from graphql import GraphQLError
from strawberry.dataloader import DataLoader

from gateway.auth import Principal, Role
from gateway.benefits.wall import Counters
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.actor import posting_actor_loader
from gateway.graphql.benefit_loaders import UsageKey, benefit_usage_loader
from gateway.graphql.tier_loaders import (
    MemberStanding,
    TierHistoryKey,
    tier_history_loader,
    tier_standing_loader,
)
from gateway.members import IdentityRow, MemberRow, get_identities, get_members
from gateway.tier_history import TierHistoryRow
from gateway.tiers import Ladder, current_ladder


def _member_loader(core: Core, now: Callable[[], datetime]) -> DataLoader[int, MemberRow | None]:
    """Members by id, their matured pending points and lapsed holds counted as of the request's clock."""

    async def load(ids: Sequence[int]) -> list[MemberRow | None]:
        async with core.db.read() as conn:
            return await get_members(conn, ids, now=now())

    return DataLoader(load_fn=load)


def _identity_loader(core: Core) -> DataLoader[int, list[IdentityRow]]:
    async def load(ids: Sequence[int]) -> list[list[IdentityRow]]:
        async with core.db.read() as conn:
            return await get_identities(conn, ids)

    return DataLoader(load_fn=load)


@dataclass
class Context:
    """What every resolver can reach through ``info.context``."""

    core: Core
    principal: Principal | None
    auth_error: AtriumError | None = None
    members: DataLoader[int, MemberRow | None] = field(init=False)
    identities: DataLoader[int, list[IdentityRow]] = field(init=False)
    tier_standings: DataLoader[int, MemberStanding] = field(init=False)
    tier_histories: DataLoader[TierHistoryKey, list[TierHistoryRow]] = field(init=False)
    _ladder: Ladder | None = field(default=None, init=False, repr=False)
    benefit_usage: DataLoader[UsageKey, Counters] = field(init=False)
    posting_actors: DataLoader[int, str | None] = field(init=False)

    def __post_init__(self) -> None:
        self.members = _member_loader(self.core, self.now)
        self.identities = _identity_loader(self.core)
        self.tier_standings = tier_standing_loader(self.core, self.now)
        self.tier_histories = tier_history_loader(self.core)
        self.benefit_usage = benefit_usage_loader(self.core)
        self.posting_actors = posting_actor_loader(self.core)

    @staticmethod
    def now() -> datetime:
        """The request's clock (UTC)."""
        return datetime.now(UTC)

    async def ladder(self) -> Ladder:
        """The tier ladder for this request, read once through the configuration cache."""
        if self._ladder is None:
            self._ladder = await current_ladder(self.core)
        return self._ladder

    def ladder_changed(self, ladder: Ladder) -> None:
        """Use ``ladder`` for the rest of the request: an admin mutation just changed it."""
        self._ladder = ladder

    def caller(self) -> Principal:
        """The authenticated caller, or an ``UNAUTHENTICATED`` error."""
        if self.auth_error is not None:
            raise self.auth_error
        if self.principal is None:
            raise AtriumError(ErrorCode.UNAUTHENTICATED, "Send 'Authorization: Bearer <token>'.")
        return self.principal

    def require_role(self, *roles: Role) -> Principal:
        """The caller, if it has one of ``roles``; ``FORBIDDEN`` otherwise."""
        principal = self.caller()
        if principal.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            raise AtriumError(ErrorCode.FORBIDDEN, f"Only {allowed} tokens may do this.")
        return principal


def as_graphql_error(error: AtriumError) -> GraphQLError:
    """A GraphQL error carrying the typed code, for failures of queries (mutations return data)."""
    return GraphQLError(error.message, extensions={"code": error.code.value, "field": error.field})
