"""Idempotency keys: a retry is recognised however it names the member, and never crosses members."""

from __future__ import annotations

from datetime import datetime

import pytest

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from tests.helpers import earn, enrol_phone, phone_ref, retail_purchase, snapshot

PHONE = "13800138000"
OTHER_PHONE = "13900139000"


async def test_a_retry_naming_the_member_by_id_instead_of_phone_is_a_replay(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    first = await earn(core, phone_ref(PHONE), "R-1", retail_purchase(), now)

    again = await earn(core, member_id, "R-1", retail_purchase(), now)

    assert again.replayed and again.id == first.id


async def test_the_same_key_for_another_member_is_refused(core: Core, now: datetime) -> None:
    await enrol_phone(core, PHONE, now)
    other = await enrol_phone(core, OTHER_PHONE, now)
    await earn(core, phone_ref(PHONE), "R-1", retail_purchase(), now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await earn(core, other, "R-1", retail_purchase(), now)

    assert raised.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert await snapshot(core) == before


async def test_keys_are_scoped_per_format(core: Core, now: datetime) -> None:
    from tests.helpers import dining_bill

    member_id = await enrol_phone(core, PHONE, now)
    retail = await earn(core, member_id, "0001", retail_purchase(), now)
    dining = await earn(core, member_id, "0001", dining_bill(), now, format_code="dining", kind="bill")

    assert not dining.replayed and dining.id != retail.id
