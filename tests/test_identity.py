"""Identity: one member id behind every normalised phone, email and format customer id."""

from __future__ import annotations

from datetime import datetime

import pytest

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.identity import (
    IdentityKind,
    enrol,
    find_member_id,
    link_identity,
    normalize_identity,
)
from gateway.tiers import current_ladder
from tests.helpers import count_rows, customer_id_key, enrol_phone, phone_key, snapshot


def _normalize(core: Core, kind: IdentityKind, value: str, namespace: str | None = None):  # type: ignore[no-untyped-def]
    return normalize_identity(
        kind,
        value,
        namespace=namespace,
        formats=core.registry.formats,
        phone_region=core.settings.default_phone_region,
    )


async def _member_by(core: Core, key) -> int | None:  # type: ignore[no-untyped-def]
    async with core.db.read() as conn:
        return await find_member_id(conn, key)


async def test_phone_written_two_ways_finds_the_same_member(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, "138 0013 8000", now)

    assert await _member_by(core, phone_key("+8613800138000")) == member_id
    assert await _member_by(core, phone_key("+86 138-0013-8000")) == member_id
    assert phone_key("138 0013 8000").value == "+8613800138000"


async def test_email_is_found_whatever_its_case(core: Core, now: datetime) -> None:
    key = _normalize(core, IdentityKind.EMAIL, "Li.Wei@Example.COM")
    member_id = await enrol(core.db, identity=key, ladder=await current_ladder(core), enrolled_format=None, now=now)

    assert await _member_by(core, _normalize(core, IdentityKind.EMAIL, "li.wei@example.com")) == member_id


@pytest.mark.parametrize(
    ("kind", "value", "namespace", "code", "field"),
    [
        pytest.param(IdentityKind.PHONE, "12345", None, ErrorCode.INVALID_IDENTITY, "identity.value", id="short-phone"),
        pytest.param(IdentityKind.PHONE, "call me maybe", None, ErrorCode.INVALID_IDENTITY, "identity.value", id="text-phone"),
        pytest.param(IdentityKind.PHONE, "", None, ErrorCode.INVALID_IDENTITY, "identity.value", id="empty-phone"),
        pytest.param(IdentityKind.EMAIL, "li.wei.example.com", None, ErrorCode.INVALID_IDENTITY, "identity.value", id="email-without-at"),
        pytest.param(IdentityKind.EMAIL, "li wei@example", None, ErrorCode.INVALID_IDENTITY, "identity.value", id="email-with-space"),
        pytest.param(IdentityKind.CUSTOMER_ID, "-D 1001!", "dining", ErrorCode.INVALID_IDENTITY, "identity.value", id="malformed-customer-id"),
        pytest.param(IdentityKind.CUSTOMER_ID, "D" * 65, "dining", ErrorCode.INVALID_IDENTITY, "identity.value", id="long-customer-id"),
        pytest.param(IdentityKind.CUSTOMER_ID, "D-1001", None, ErrorCode.INVALID_IDENTITY, "identity.format", id="customer-id-without-format"),
        pytest.param(IdentityKind.CUSTOMER_ID, "C-1001", "cinema", ErrorCode.UNKNOWN_FORMAT, "identity.format", id="customer-id-of-unknown-format"),
    ],
)
async def test_malformed_identity_is_a_typed_error_and_enrols_nobody(
    core: Core, now: datetime, kind: IdentityKind, value: str, namespace: str | None, code: ErrorCode, field: str
) -> None:
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        key = _normalize(core, kind, value, namespace)
        await enrol(core.db, identity=key, ladder=await current_ladder(core), enrolled_format="retail", now=now)

    assert (raised.value.code, raised.value.field) == (code, field)
    assert raised.value.message
    assert await snapshot(core) == before


async def test_enrolling_a_taken_identity_is_identity_taken(core: Core, now: datetime) -> None:
    await enrol_phone(core, "13800138000", now)

    with pytest.raises(AtriumError) as raised:
        await enrol_phone(core, "+86 138 0013 8000", now, enrolled_format="dining")

    assert (raised.value.code, raised.value.field) == (ErrorCode.IDENTITY_TAKEN, "identity")
    async with core.db.read() as conn:
        assert await count_rows(conn, "member", "identity") == {"member": 1, "identity": 1}


async def test_linked_customer_id_of_another_format_finds_the_member(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, "13800138000", now)

    await link_identity(core.db, member_id=member_id, identity=customer_id_key(core, "dining", "D-1001"), now=now)

    assert await _member_by(core, customer_id_key(core, "dining", "D-1001")) == member_id
    assert await _member_by(core, customer_id_key(core, "retail", "D-1001")) is None


async def test_linking_an_identity_the_member_already_has_changes_nothing(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, "13800138000", now)
    before = await snapshot(core)

    await link_identity(core.db, member_id=member_id, identity=phone_key("+8613800138000"), now=now)

    assert await snapshot(core) == before


async def test_linking_an_identity_owned_by_another_member_fails(core: Core, now: datetime) -> None:
    first = await enrol_phone(core, "13800138000", now)
    second = await enrol_phone(core, "13900139000", now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await link_identity(core.db, member_id=first, identity=phone_key("139 0013 9000"), now=now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.IDENTITY_TAKEN, "identity")
    assert await snapshot(core) == before
    assert await _member_by(core, phone_key("13900139000")) == second


async def test_linking_to_an_unknown_member_is_member_not_found(core: Core, now: datetime) -> None:
    with pytest.raises(AtriumError) as raised:
        await link_identity(core.db, member_id=4242, identity=phone_key("13800138000"), now=now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.MEMBER_NOT_FOUND, "member")
    async with core.db.read() as conn:
        assert await count_rows(conn, "identity") == {"identity": 0}
