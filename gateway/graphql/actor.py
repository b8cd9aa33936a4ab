"""Who is acting, in GraphQL: the operation runs as its caller, and ``Posting.actor`` shows who wrote a posting.

:class:`ActorExtension` sets :mod:`gateway.actor`'s context variable from the authenticated
principal for the whole operation (parse, validation and execution) and resets it afterwards, so
every posting and remembered failure the operation writes records its caller. It resets in the
same task that set it: nothing leaks into whatever the serving task does next.

``Posting.actor`` is read through a per-request :class:`~strawberry.dataloader.DataLoader` (one
statement for every posting of a response, and none at all unless the field is asked for), and
only admins and services see it: a member gets ``null``, even on its own postings, since an
admin's or a till's subject is staff information, not the member's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension

from gateway.actor import acting_as, actor_of
from gateway.auth import Principal, Role
from gateway.core import Core
from gateway.persistence.models import posting_table

if TYPE_CHECKING:
    from gateway.graphql.context import Context

ACTOR_DESCRIPTION = (
    "Who wrote the posting: `admin:<subject>`, `service:<format>[:<subject>]`, `member:<id>`, or `system` for "
    "what the gateway does by itself (releasing pending points, voiding a lapsed hold, expiry, a merge's sweep, "
    "CLI jobs). Null for member tokens, and for postings older than this field."
)


class ActorExtension(SchemaExtension):
    """Run each operation as its caller (``None`` for an anonymous or invalid token)."""

    def on_operation(self) -> Iterator[None]:
        """Set the actor before the operation starts; restore the previous one once it ends."""
        context = self.execution_context.context
        principal: Principal | None = getattr(context, "principal", None)
        with acting_as(actor_of(principal) if principal is not None else None):
            yield


def posting_actor_loader(core: Core) -> DataLoader[int, str | None]:
    """Postings' actors by posting id, one statement per batch."""

    async def load(ids: Sequence[int]) -> list[str | None]:
        async with core.db.read() as conn:
            rows = (await conn.execute(select(posting_table.c.id, posting_table.c.actor).where(posting_table.c.id.in_(ids)))).all()
        found = {int(row.id): row.actor for row in rows}
        return [found.get(posting_id) for posting_id in ids]

    return DataLoader(load_fn=load)


def may_see_actors(principal: Principal | None) -> bool:
    """Whether the caller may read who wrote postings: admins and services, not members."""
    return principal is not None and principal.role in (Role.ADMIN, Role.SERVICE)


def member_view_of_actor(label: str | None) -> str | None:
    """What a member may read of an actor label: its role and format, never a staff subject.

    ``service:retail:till-7`` reads ``service:retail`` (the format it was used at), ``admin:alice``
    reads ``admin``; ``member:<id>`` and ``system`` name no staff member and are kept. Why: a member
    sees where their coupon went, not which cashier or administrator handled it.
    """
    if label is None:
        return None
    role, _, rest = label.partition(":")
    if role == "admin":
        return "admin"
    if role == "service":
        return f"service:{rest.partition(':')[0]}" if rest else "service"
    return label


def actor_for_caller(context: Context, label: str | None) -> str | None:
    """An actor label as the request's caller may read it: whole for admins and services, else :func:`member_view_of_actor`."""
    if context.auth_error is None and may_see_actors(context.principal):
        return label
    return member_view_of_actor(label)


async def resolve_posting_actor(context: Context, posting_id: int) -> str | None:
    """``Posting.actor`` for the request's caller: the stored actor, or ``None`` for a member."""
    if context.auth_error is not None or not may_see_actors(context.principal):
        return None
    return await context.posting_actors.load(posting_id)
