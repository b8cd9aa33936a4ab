"""A member's history pages newest first: ``after`` a page's ``endCursor`` come the next older postings."""

from __future__ import annotations

import httpx

from gateway.settings import Settings
from tests.http.graphql import ENROL, PHONE, RETAIL_PURCHASE, caller, purchase

HISTORY = """
query History($first: Int!, $after: String) {
  me { history(first: $first, after: $after) { edges { cursor node { idempotencyKey } } pageInfo { hasNextPage endCursor } } }
}"""


async def test_pages_after_a_cursor_continue_with_older_postings_until_none_is_left(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    retail = caller(client, settings, "service", format="retail")
    number = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]["number"]
    for n in range(5):
        payload = await retail.mutate(
            "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": f"R-{n}", "input": purchase(("A", "grocery", 1, "10.00"))}
        )
        assert payload["errors"] == []
    member = caller(client, settings, "member", member_id=number)

    keys: list[str] = []
    after = None
    pages = []
    for _ in range(5):  # bounded: a cursor that did not advance must fail, not loop
        page = (await member.data(HISTORY, {"first": 2, "after": after}))["me"]["history"]
        keys += [edge["node"]["idempotencyKey"] for edge in page["edges"]]
        pages.append(page["pageInfo"]["hasNextPage"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert keys == ["R-4", "R-3", "R-2", "R-1", "R-0"]
    assert pages == [True, True, False]
