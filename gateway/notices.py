"""Notifications that wait for the commit: plugins hear of what a write transaction wrote, after it committed.

Every write that changes points, coupons or benefit uses runs in :func:`notifying_write` instead
of ``core.db.write()``. While the transaction runs, what it writes is noted, not told:
:func:`~gateway.ledger.postings.insert_posting` notes each posting (so no kind of posting can be
forgotten, including the ones a write makes on the way: a release of matured pending points, the
void of a lapsed hold), and the coupon and benefit services note theirs with :func:`after_commit`.
Once the transaction has committed, the plugins are told, in the order things were written, one
plugin at a time (:class:`~gateway.plugins.PluginHost` logs and swallows a raising plugin: what
was written stands). When the transaction rolls back, nothing is told: a refused request, a
plugin failing while computing points, a lost race. A replayed request writes nothing new, so it
is told nothing again.

The notes live in a context variable holding the transaction's connection, so a note taken on
another connection than the notifying transaction's is refused with a logged warning rather than
told at the wrong time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.plugin_api import BenefitUseEvent, CouponEvent, PostingEvent

if TYPE_CHECKING:
    from gateway.core import Core
    from gateway.plugins import PluginHost

log = logging.getLogger(__name__)

Notice = PostingEvent | CouponEvent | BenefitUseEvent
"""Anything a plugin is told of after a commit."""

GATEWAY_SCOPES = frozenset({"release", "hold-lapse", "expire", "merge"})
"""Idempotency scopes of postings the gateway makes by itself: their event has no ``reference``.

The scopes of :mod:`gateway.ledger.pending`, :mod:`gateway.ledger.holds` (a lapse),
:mod:`gateway.ledger.expiry` and :mod:`gateway.merge`; a test checks they match.
"""


@dataclass
class _Pending:
    conn: AsyncConnection
    notices: list[Notice] = field(default_factory=list)


_pending: ContextVar[_Pending | None] = ContextVar("atrium_pending_notices", default=None)


@asynccontextmanager
async def notifying_write(core: Core) -> AsyncIterator[AsyncConnection]:
    """``core.db.write()``, and once it has committed, tell the plugins what it wrote.

    Leaving the block normally (``return`` included) commits and then tells; an exception rolls
    back and tells nothing. Plugins are told before this returns, so before the response is sent.
    """
    async with core.db.write() as conn:
        pending = _Pending(conn)
        token = _pending.set(pending)
        try:
            yield conn
        finally:
            _pending.reset(token)
    tell(core.host, pending.notices)


def after_commit(conn: AsyncConnection, notice: Notice) -> None:
    """Note ``notice`` to be told to the plugins once ``conn``'s transaction commits.

    ``conn`` must be the connection of the enclosing :func:`notifying_write`; otherwise the notice
    cannot be tied to a commit, and it is dropped with a warning naming it.
    """
    pending = _pending.get()
    if pending is None or pending.conn is not conn:
        log.warning("%r was written outside notifying_write(): plugins will not be told of it", notice)
        return
    pending.notices.append(notice)


def note_posting(conn: AsyncConnection, posting_id: int, values: dict[str, Any]) -> None:
    """Note the posting just inserted with ``values`` (the posting table's columns) for the plugins."""
    scope = values["idempotency_scope"]
    after_commit(
        conn,
        PostingEvent(
            posting_id=posting_id,
            member_id=int(values["member_id"]),
            kind=values["kind"],
            format=values["format"],
            points=int(values["points"]),
            growth=int(values["growth"]),
            balance_after=int(values["balance_after"]),
            reason=values["reason"],
            occurred_at=values["occurred_at"],
            reference=None if scope in GATEWAY_SCOPES else values["idempotency_key"],
        ),
    )


def tell(host: PluginHost, notices: list[Notice]) -> None:
    """Tell every plugin of ``notices``, in order, through the host's isolating notify methods."""
    for notice in notices:
        if isinstance(notice, PostingEvent):
            host.notify_posting(notice)
        elif isinstance(notice, CouponEvent):
            host.notify_coupon(notice)
        else:
            host.notify_benefit_use(notice)
