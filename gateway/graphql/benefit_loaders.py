"""The per-request data loader of benefit usage: one statement for every member's wall in a request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from strawberry.dataloader import DataLoader

from gateway.benefits.wall import Counters, read_counters
from gateway.core import Core

UsageKey = tuple[int, datetime]
"""``(member id, earliest current period start)``: the wall asks for the counters since then."""


def benefit_usage_loader(core: Core) -> DataLoader[UsageKey, Counters]:
    """A loader of members' benefit counters; keys sharing a start (the usual case) cost one statement."""

    async def load(keys: Sequence[UsageKey]) -> list[Counters]:
        by_start: dict[datetime, list[int]] = {}
        for member_id, since in keys:
            by_start.setdefault(since, []).append(member_id)
        found: dict[UsageKey, Counters] = {}
        async with core.db.read() as conn:
            for since, member_ids in by_start.items():
                for member_id, counters in (await read_counters(conn, member_ids, since)).items():
                    found[(member_id, since)] = counters
        return [found[key] for key in keys]

    return DataLoader(load_fn=load)
