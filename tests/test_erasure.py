"""Erasure on request: identities go, the member can no longer earn or redeem, the ledger stays and verifies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import select

from gateway.core import Core
from gateway.erasure import ErasureResult, erase_member
from gateway.errors import AtriumError, ErrorCode
from gateway.identity import (
    IdentityKind,
    find_member_id,
    link_identity,
    normalize_identity,
)
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.verify import verify_ledger
from gateway.members import get_identities
from gateway.merge import merge_members
from gateway.persistence.models import audit_log_table, member_table
from tests.helpers import (
    count_rows,
    customer_id_key,
    earn,
    enrol_phone,
    member_state,
    phone_key,
    phone_ref,
    retail_purchase,
    snapshot,
)

PHONE = "13800138000"
EMAIL = "Wei.Zhang@Example.com"


@pytest.fixture(autouse=True)
async def ledger_verifies_after_each_test(core: Core) -> AsyncIterator[None]:
    """Whatever a test did, ``atrium ledger verify`` finds nothing wrong afterwards."""
    yield
    async with core.db.read() as conn:
        assert await verify_ledger(conn) == []


async def _member_with_points(core: Core, now: datetime) -> int:
    """A member with a phone, an email and a dining customer id, holding 1000 points."""
    member_id = await enrol_phone(core, PHONE, now)
    email = normalize_identity(IdentityKind.EMAIL, EMAIL, namespace=None, formats=(), phone_region="CN")
    await link_identity(core.db, member_id=member_id, identity=email, now=now)
    await link_identity(core.db, member_id=member_id, identity=customer_id_key(core, "dining", "D-1001"), now=now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "1000.00")]), now)
    return member_id


async def _erase(core: Core, ref: MemberRef | int, now: datetime, reason: str = "member asked to be forgotten") -> ErasureResult:
    target = MemberRef(member_id=ref) if isinstance(ref, int) else ref
    return await erase_member(core, target, actor="admin", reason=reason, now=now)


async def _verify(core: Core) -> list[object]:
    async with core.db.read() as conn:
        return list(await verify_ledger(conn))


async def _audit_rows(core: Core) -> list[tuple[str, int | None, dict[str, object], str | None]]:
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(audit_log_table.c.action, audit_log_table.c.member_id, audit_log_table.c.details, audit_log_table.c.reason)
            .where(audit_log_table.c.action == "erase_member")
            .order_by(audit_log_table.c.id)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def test_erasure_deletes_every_identity_of_the_member(core: Core, now: datetime) -> None:
    member_id = await _member_with_points(core, now)

    result = await _erase(core, member_id, now)

    assert (result.member_id, result.identities_erased, result.erased_now) == (member_id, 3, True)
    async with core.db.read() as conn:
        assert await get_identities(conn, [member_id]) == [[]]
        assert await count_rows(conn, "identity") == {"identity": 0}


async def test_an_erased_member_is_marked_erased_with_the_time(core: Core, now: datetime) -> None:
    member_id = await _member_with_points(core, now)

    await _erase(core, member_id, now)

    async with core.db.read() as conn:
        row = (await conn.execute(select(member_table.c.status, member_table.c.erased_at).where(member_table.c.id == member_id))).one()
    assert (row.status, row.erased_at) == ("erased", now)


async def test_the_old_phone_finds_no_member_after_erasure(core: Core, now: datetime) -> None:
    member_id = await _member_with_points(core, now)

    await _erase(core, phone_ref(PHONE), now)

    async with core.db.read() as conn:
        assert await find_member_id(conn, phone_key(PHONE)) is None
    with pytest.raises(AtriumError) as raised:
        await earn(core, phone_ref(PHONE), "R-2", retail_purchase(), now)
    assert raised.value.code is ErrorCode.MEMBER_NOT_FOUND
    assert await member_state(core, member_id) == (1000, 1000, "member")


async def test_the_phone_of_an_erased_member_enrols_a_brand_new_member(core: Core, now: datetime) -> None:
    member_id = await _member_with_points(core, now)
    await _erase(core, member_id, now)

    newcomer = await enrol_phone(core, PHONE, now)

    assert newcomer != member_id
    assert await member_state(core, newcomer) == (0, 0, "member")
    async with core.db.read() as conn:
        assert await find_member_id(conn, phone_key(PHONE)) == newcomer


async def test_an_erased_member_cannot_earn(core: Core, now: datetime) -> None:
    member_id = await _member_with_points(core, now)
    await _erase(core, member_id, now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await earn(core, member_id, "R-2", retail_purchase(), now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.MEMBER_ERASED, None)
    assert (await snapshot(core))["members"] == before["members"]


async def test_an_erased_member_cannot_redeem(core: Core, now: datetime) -> None:
    member_id = await _member_with_points(core, now)
    await _erase(core, member_id, now)

    with pytest.raises(AtriumError) as raised:
        await redeem(core, RedeemRequest(MemberRef(member_id=member_id), "dining", "dessert_voucher", 1, "RD-1"), now=now)

    assert raised.value.code is ErrorCode.MEMBER_ERASED
    assert await member_state(core, member_id) == (1000, 1000, "member")


async def test_an_erased_member_takes_no_new_identity(core: Core, now: datetime) -> None:
    member_id = await _member_with_points(core, now)
    await _erase(core, member_id, now)

    with pytest.raises(AtriumError) as raised:
        await link_identity(core.db, member_id=member_id, identity=phone_key("13900139000"), now=now)

    assert raised.value.code is ErrorCode.MEMBER_ERASED
    async with core.db.read() as conn:
        assert await count_rows(conn, "identity") == {"identity": 0}


async def test_erasure_keeps_the_ledger_which_still_verifies(core: Core, now: datetime) -> None:
    member_id = await _member_with_points(core, now)
    async with core.db.read() as conn:
        ledger_before = await count_rows(conn, "posting", "entry", "lot", "lot_consumption")

    await _erase(core, member_id, now)

    async with core.db.read() as conn:
        assert await count_rows(conn, "posting", "entry", "lot", "lot_consumption") == ledger_before
    assert await member_state(core, member_id) == (1000, 1000, "member")
    assert await _verify(core) == []


async def test_erasure_is_audited_with_counts_and_never_the_erased_values(core: Core, now: datetime) -> None:
    member_id = await _member_with_points(core, now)

    await _erase(core, member_id, now, reason="GDPR request, ticket 4711")

    [(action, audited, details, reason)] = await _audit_rows(core)
    assert (action, audited, reason) == ("erase_member", member_id, "GDPR request, ticket 4711")
    assert details == {
        "identities_erased": 3,
        "identities_by_kind": {"customer_id": 1, "email": 1, "phone": 1},
        "status_before": "active",
        "points_balance": 1000,
        "pending_balance": 0,
    }
    written = json.dumps(details).lower()
    for value in (phone_key(PHONE).value, "13800138000", "wei.zhang", "example.com", "d-1001"):
        assert value not in written


async def test_erasing_an_erased_member_again_changes_nothing(core: Core, now: datetime) -> None:
    member_id = await _member_with_points(core, now)
    await _erase(core, member_id, now)
    before = await snapshot(core)

    again = await _erase(core, member_id, now)

    assert (again.member_id, again.identities_erased, again.erased_now) == (member_id, 0, False)
    assert await snapshot(core) == before


async def test_erasure_needs_a_reason_and_writes_nothing_without_one(core: Core, now: datetime) -> None:
    member_id = await _member_with_points(core, now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await _erase(core, member_id, now, reason="")

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, "reason")
    assert await snapshot(core) == before


async def test_an_erased_member_cannot_be_merged(core: Core, now: datetime) -> None:
    member_id = await _member_with_points(core, now)
    other = await enrol_phone(core, "13900139000", now)
    await _erase(core, member_id, now)

    with pytest.raises(AtriumError) as raised:
        await merge_members(core, MemberRef(member_id=other), MemberRef(member_id=member_id), actor="admin", reason="dup", now=now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.MEMBER_ERASED, "merged")
