"""Who writes: the actor recorded on every posting and remembered failure.

Finance and support ask of any posting "who did this?". The answer is a short label:

- ``member:<id>`` — the member itself (a redemption from the member app);
- ``service:<format>`` or ``service:<format>:<subject>`` — a format's till or billing system;
- ``admin`` or ``admin:<subject>`` — a group admin (refund, adjustment, redemption for a member ...);
- ``system`` — what the gateway does by itself: releasing matured pending points, voiding a
  lapsed hold, expiring lots, sweeping a merged member's points, and every ``atrium`` CLI job;
- ``NULL`` — unknown: postings written before migration 0013, or by code that set no actor
  (an embedder calling the services directly).

How it reaches the ledger without a parameter on every ledger function: a
:class:`contextvars.ContextVar`. The GraphQL layer sets it for the duration of each operation from
the authenticated principal (:class:`gateway.graphql.actor.ActorExtension`), the CLI sets it to
``system`` for the duration of a command, and :func:`gateway.ledger.postings.insert_posting` reads
it through :func:`posting_actor`. Postings in :data:`gateway.notices.GATEWAY_SCOPES` are always
``system``, whoever's request made them on the way (a till's earn that first releases the
member's matured pending points writes one ``service:...`` earn and one ``system`` release).

Why this is safe with asyncio: a context variable's value belongs to the running task's context.
Each HTTP request is served by its own task, and the variable is set and reset around the
operation (never left behind in a task that serves other work, e.g. an in-process test client).
``asyncio.gather`` and ``create_task`` copy the context of the task that calls them, so the
resolvers graphql-core runs concurrently inherit the request's actor and nobody else's. Strawberry's
``DataLoader`` dispatches a batch in a task created from the context of the first ``load`` of that
batch; loaders are built per request (:class:`gateway.graphql.context.Context`) and only read, so
a batch never writes a posting under another request's actor. The gateway itself starts no
background task that writes postings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from gateway.auth import Principal, Role
from gateway.notices import GATEWAY_SCOPES

SYSTEM = "system"
"""The actor of postings the gateway makes by itself and of CLI jobs."""

MAX_LENGTH = 128
"""The width of the ``actor`` columns; a longer label is cut (a subject that long is an IdP's mistake)."""

_current: ContextVar[str | None] = ContextVar("atrium_actor", default=None)


def actor_of(principal: Principal) -> str:
    """The label of an authenticated caller: its role (and format, or member id), then its subject.

    The role prefix comes from signed claims, so a service's label always starts with its own
    format and a member's is its member id. A subject that already starts with the prefix (the
    development tokens' ``admin`` and ``service:retail``) is not repeated.
    """
    if principal.role is Role.MEMBER:
        return f"member:{principal.member_id}"
    prefix = "admin" if principal.role is Role.ADMIN else f"service:{principal.format}"
    subject = principal.subject
    label = subject if subject == prefix or subject.startswith(prefix + ":") else f"{prefix}:{subject}"
    return label[:MAX_LENGTH]


def current_actor() -> str | None:
    """The actor of the code running now: set by the GraphQL operation or CLI command; ``None`` when unknown."""
    return _current.get()


@contextmanager
def acting_as(actor: str | None) -> Iterator[None]:
    """Run the block as ``actor`` (postings written inside record it), then restore the previous one.

    Use it around one unit of work in one task: the value does not leak into the caller once the
    block exits, and tasks the block starts inherit it.
    """
    token = _current.set(actor[:MAX_LENGTH] if actor is not None else None)
    try:
        yield
    finally:
        _current.reset(token)


def posting_actor(values: Mapping[str, Any]) -> str | None:
    """Who writes the posting with ``values``: ``system`` for the gateway's own scopes, else an
    explicit ``actor`` value, else :func:`current_actor`."""
    if values["idempotency_scope"] in GATEWAY_SCOPES:
        return SYSTEM
    explicit = values.get("actor")
    return explicit if explicit is not None else current_actor()
