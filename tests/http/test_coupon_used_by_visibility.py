"""Who used a coupon: admins and tills read the whole actor label, the member only its role and format."""

from __future__ import annotations

import httpx
import pytest

from gateway.auth import Role, mint_token
from gateway.graphql.actor import member_view_of_actor
from gateway.settings import Settings
from tests.http.graphql import Caller, caller
from tests.http.test_coupons_http import LOOKUP, USE, _member_with_points, _redeem, _use

MY_USED_COUPONS = """
query Mine { me { coupons(first: 10) { edges { node { code usedBy usedTill } } } } }"""


def _staff(client: httpx.AsyncClient, settings: Settings, role: str, subject: str, fmt: str | None = None) -> Caller:
    return Caller(client, mint_token(settings, role=Role(role), format_code=fmt, subject=subject))


async def test_the_member_reads_the_format_of_the_till_that_used_its_coupon_not_the_till_subject(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    _, number = await _member_with_points(client, settings)
    (code,) = await _redeem(client, settings)
    till = _staff(client, settings, "service", "till-7", fmt="dining")
    used = await till.mutate("useCoupon", USE, _use(code, "POS-1", till="RST-JADE-T12"))

    member = caller(client, settings, "member", member_id=number)
    looked_up = (await member.data(LOOKUP, {"code": code}))["coupon"]
    listed = (await member.data(MY_USED_COUPONS))["me"]["coupons"]["edges"][0]["node"]

    assert used["coupon"]["usedBy"] == "service:dining:till-7"
    assert (looked_up["usedBy"], looked_up["usedTill"]) == ("service:dining", "RST-JADE-T12")
    assert listed == {"code": code, "usedBy": "service:dining", "usedTill": "RST-JADE-T12"}


async def test_admins_and_tills_read_the_full_label_and_the_member_reads_admin(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    _, number = await _member_with_points(client, settings)
    (code,) = await _redeem(client, settings)
    await _staff(client, settings, "admin", "alice").mutate("useCoupon", USE, _use(code, "ADM-1"))

    by_admin = (await caller(client, settings, "admin").data(LOOKUP, {"code": code}))["coupon"]["usedBy"]
    by_till = (await caller(client, settings, "service", format="dining").data(LOOKUP, {"code": code}))["coupon"]["usedBy"]
    by_member = (await caller(client, settings, "member", member_id=number).data(LOOKUP, {"code": code}))["coupon"]["usedBy"]

    assert (by_admin, by_till, by_member) == ("admin:alice", "admin:alice", "admin")


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("admin:alice", "admin"),
        ("admin", "admin"),
        ("service:retail:till-7", "service:retail"),
        ("service:retail", "service:retail"),
        ("member:12", "member:12"),
        ("system", "system"),
        (None, None),
    ],
)
def test_a_member_sees_an_actor_label_without_its_staff_subject(label: str | None, shown: str | None) -> None:
    assert member_view_of_actor(label) == shown
