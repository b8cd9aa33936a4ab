"""A group-wide campaign budget may pass GraphQL's 32-bit Int: cap, issued and left are BigInt."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from gateway.core import Core
from gateway.persistence.campaign_tables import campaign_budget_table
from gateway.settings import Settings
from tests.http.graphql import PHONE, purchase
from tests.http.test_campaigns_http import (
    CAMPAIGNS,
    CREATE,
    PREVIEW,
    _callers,
    campaign_input,
)

CAP = 5_000_000_000
"""Five billion points: more than 2^31 - 1 = 2,147,483,647."""


async def test_a_campaign_budget_above_two_to_the_31_is_accepted_and_read_back(client: httpx.AsyncClient, settings: Settings) -> None:
    admin, *_ = await _callers(client, settings)

    created = await admin.mutate("createCampaign", CREATE, {"input": campaign_input(budget=CAP)})

    assert created["errors"] == []
    assert created["campaign"]["budget"] == {"cap": CAP, "issued": 0, "left": CAP}


async def test_issued_and_left_above_two_to_the_31_are_read_without_an_int_overflow(
    client: httpx.AsyncClient, settings: Settings, core: Core
) -> None:
    admin, retail, *_ = await _callers(client, settings)
    await admin.mutate("createCampaign", CREATE, {"input": campaign_input(budget=CAP)})
    async with core.db.write() as conn:
        await conn.execute(update(campaign_budget_table).where(campaign_budget_table.c.campaign_code == "flash").values(issued=2**31 + 1))

    listed = (await admin.data(CAMPAIGNS, {"all": False}))["campaigns"]
    preview = await retail.data(
        PREVIEW, {"member": {"identity": PHONE}, "format": "retail", "kind": "purchase", "input": purchase(("A", "grocery", 1, "12.00"))}
    )

    assert listed == [{"code": "flash", "status": "RUNNING", "budget": {"issued": 2**31 + 1, "left": CAP - 2**31 - 1}}]
    (flash,) = preview["previewEarn"]["campaigns"]
    assert flash["budgetLeft"] == CAP - 2**31 - 1 - flash["points"] > 2**31
