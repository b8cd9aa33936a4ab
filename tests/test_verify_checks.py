"""``atrium ledger verify`` beyond balances: balance after each posting, coupons, benefit counters, campaign budgets.

Each test builds a sound ledger, corrupts one row, and expects verify to name who is concerned
(the member, or the campaign); the CLI then exits non-zero. The group runs in Shanghai time,
in December 2026 (:mod:`tests.campaign_helpers`).
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, update
from typer.testing import CliRunner

from gateway.benefits.admin import SharedBenefitDraft, create_shared_benefit
from gateway.benefits.use import UseRequest, cancel_benefit_use, use_benefit
from gateway.cli import app as cli
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.cancel import CancelRequest, cancel_redemption
from gateway.ledger.discrepancy import keyset_batches
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.ledger.verify import Discrepancy, verify_ledger
from gateway.merge import merge_members
from gateway.money import Money
from gateway.persistence.benefit_tables import benefit_counter_table, benefit_use_table
from gateway.persistence.campaign_tables import campaign_budget_table
from gateway.persistence.coupon_tables import coupon_table
from gateway.persistence.models import posting_table
from gateway.plugin_api import Fulfilment, Quota, RedemptionType, hookimpl
from gateway.settings import Settings
from tests.campaign_helpers import ZONE, add_campaign, at, buy, new_member
from tests.conftest import Backend

runner = CliRunner()
PARKING = "group.parking_2h"


class SneakyRewards:
    """A throwaway plugin whose reward issues no coupons but writes the gateway's coupon key into its details."""

    @staticmethod
    @hookimpl
    def atrium_register_redemption_types(register):  # type: ignore[no-untyped-def]
        register(
            RedemptionType(
                format="retail",
                code="sneaky",
                name="Sneaky",
                description="Claims to have issued coupons.",
                points=10,
                fulfil=lambda request: Fulfilment("done", {"couponCodes": ["FAKE"]}),
            )
        )


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return Settings(database_url=backend.url, plugins=None, timezone=ZONE, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("sneaky_rewards", SneakyRewards())]


async def _verify(core: Core) -> list[Discrepancy]:
    async with core.db.read() as conn:
        return list(await verify_ledger(conn))


async def _corrupt(core: Core, statement: object) -> None:
    async with core.db.write() as conn:
        await conn.execute(statement)  # type: ignore[arg-type]


async def _member(core: Core, phone: str = "13800138000", amount: str = "5000.00") -> int:
    member_id = await new_member(core, phone)
    await buy(core, member_id, f"{phone}-EARN", at(2), amount)
    return member_id


async def _vouchers(core: Core, member_id: int, quantity: int, key: str = "RD-1") -> PostingResult:
    """Redeem ``quantity`` retail ¥10 vouchers: one coupon each."""
    return await redeem(core, RedeemRequest(MemberRef(member_id=member_id), "retail", "voucher_10", quantity, key), now=at(3))


async def _cli_verify(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("ATRIUM_DATABASE_URL", backend.url)
    result = await asyncio.to_thread(runner.invoke, cli, ["ledger", "verify"])
    return result.exit_code, result.output


# --- balance after each posting ---------------------------------------------------------------------


async def test_a_posting_whose_balance_after_is_not_the_running_wallet_is_named_with_its_member(core: Core) -> None:
    member_id = await _member(core)
    spent = await _vouchers(core, member_id, 1)
    await buy(core, member_id, "R-2", at(4), "100.00")
    await _corrupt(core, update(posting_table).where(posting_table.c.id == spent.id).values(balance_after=4999))

    found = await _verify(core)

    assert [(d.member_id, d.posting_id) for d in found] == [(member_id, spent.id)]
    assert found[0].problem == f"posting {spent.id} (redeem) says balance after 4999, but the wallet entries up to it sum to 4000"


async def test_balances_after_stay_exact_across_a_merge_for_both_records(core: Core) -> None:
    a = await _member(core, "13800138000")
    b = await _member(core, "13900139000")
    await _vouchers(core, b, 1)
    await merge_members(core, MemberRef(member_id=a), MemberRef(member_id=b), actor="admin", reason="same person", now=at(4))
    await buy(core, b, "R-B2", at(5), "100.00")
    await refund_activity(
        core, RefundRequest(format="retail", amount=Money(1000_00, "CNY"), idempotency_key="RF-1", original_key="13900139000-EARN"), now=at(6)
    )

    assert await _verify(core) == []


# --- coupons -------------------------------------------------------------------------------------------


async def test_a_redemption_that_issued_fewer_coupons_than_its_quantity_is_named(core: Core) -> None:
    member_id = await _member(core)
    redemption = await _vouchers(core, member_id, 3)
    await _corrupt(core, delete(coupon_table).where(coupon_table.c.code == redemption.details["couponCodes"][0]))

    found = await _verify(core)

    assert [(d.member_id, d.posting_id) for d in found] == [(member_id, redemption.id)]
    assert found[0].problem.startswith(f"redemption {redemption.id} of quantity 3 declares 3 coupon code(s) and issued 2 coupon(s)")


async def test_a_coupon_on_a_posting_that_declares_none_is_named_with_the_redemption_it_left(core: Core) -> None:
    member_id = await new_member(core, "13800138000")
    purchase = await buy(core, member_id, "R-1", at(2), "5000.00")
    redemption = await _vouchers(core, member_id, 1)
    await _corrupt(
        core,
        update(coupon_table).where(coupon_table.c.redemption_posting_id == redemption.id).values(redemption_posting_id=purchase.id),
    )

    found = await _verify(core)

    assert [(d.member_id, d.posting_id) for d in found] == [(member_id, redemption.id), (member_id, purchase.id)]
    assert found[1].problem == f"1 coupon(s) name posting {purchase.id} (earn), which declares no coupons"


async def test_a_cancelled_coupon_without_its_cancelling_posting_is_named(core: Core) -> None:
    member_id = await _member(core)
    code = (await _vouchers(core, member_id, 1)).details["couponCodes"][0]
    await _corrupt(core, update(coupon_table).where(coupon_table.c.code == code).values(status="cancelled", cancelled_at=at(4)))

    found = await _verify(core)

    assert [d.member_id for d in found] == [member_id]
    assert found[0].problem.startswith(f"coupon {code} of redemption")
    assert "names no cancelling posting" in found[0].problem


async def test_a_used_coupon_of_a_cancelled_redemption_is_named(core: Core) -> None:
    member_id = await _member(core)
    redemption = await _vouchers(core, member_id, 2)
    cancel = await cancel_redemption(core, CancelRequest("retail", "CX-1", redemption_key="RD-1"), now=at(4))
    assert await _verify(core) == []
    code = redemption.details["couponCodes"][1]
    await _corrupt(
        core,
        update(coupon_table).where(coupon_table.c.code == code).values(status="used", used_at=at(5), cancelled_at=None, cancel_posting_id=None),
    )

    found = await _verify(core)

    assert [(d.member_id, d.posting_id) for d in found] == [(member_id, cancel.id)]
    assert found[0].problem == f"coupon {code} was used, but its redemption {redemption.id} was cancelled by posting {cancel.id}"


async def test_a_reward_without_coupons_may_not_declare_coupon_codes(core: Core) -> None:
    member_id = await _member(core)

    with pytest.raises(AtriumError) as raised:
        await redeem(core, RedeemRequest(MemberRef(member_id=member_id), "retail", "sneaky", 1, "RD-S"), now=at(3))

    assert raised.value.code is ErrorCode.PLUGIN_FAILED
    assert await _verify(core) == []


# --- benefit counters ----------------------------------------------------------------------------------


async def _parked_twice(core: Core) -> int:
    """A member who used the monthly parking benefit twice (quota 3) and cancelled nothing."""
    draft = SharedBenefitDraft(code="parking_2h", name="2 free parking hours", description="", min_tier="member", quota=Quota(3, "month"))
    await create_shared_benefit(core, draft, actor="admin", now=at(1, 0))
    member_id = await new_member(core, "13800138000")
    for key in ("P-1", "P-2"):
        request = UseRequest(MemberRef(member_id=member_id), PARKING, 1, key, scope="admin", actor="admin")
        await use_benefit(core, request, now=at(3))
    return member_id


async def test_a_benefit_counter_above_the_uses_it_counts_is_named(core: Core) -> None:
    member_id = await _parked_twice(core)
    await _corrupt(core, update(benefit_counter_table).values(used=benefit_counter_table.c.used + 1))

    found = await _verify(core)

    assert [d.member_id for d in found] == [member_id]
    assert f"benefit {PARKING} counter" in found[0].problem and "says 3 used, its uses that were not cancelled say 2" in found[0].problem


async def test_a_use_cancelled_without_giving_its_quota_back_is_named(core: Core) -> None:
    member_id = await _parked_twice(core)
    await cancel_benefit_use(core, scope="admin", idempotency_key="P-1", now=at(4))
    assert await _verify(core) == []
    await _corrupt(core, update(benefit_use_table).where(benefit_use_table.c.idempotency_key == "P-2").values(cancelled_at=at(4)))

    found = await _verify(core)

    assert [d.member_id for d in found] == [member_id]
    assert "says 1 used, its uses that were not cancelled say 0" in found[0].problem


async def test_uses_without_their_counter_are_named(core: Core) -> None:
    member_id = await _parked_twice(core)
    await _corrupt(core, delete(benefit_counter_table))

    found = await _verify(core)

    assert [d.member_id for d in found] == [member_id]
    assert f"benefit {PARKING} has uses of 2 in the period from" in found[0].problem


# --- campaign budgets ----------------------------------------------------------------------------------


async def test_a_refund_does_not_give_budget_back_and_verify_agrees(core: Core) -> None:
    await add_campaign(core, "launch", fixed=100, budget=1000)
    member_id = await new_member(core, "13800138000")
    await buy(core, member_id, "R-1", at(3), "200.00")
    await refund_activity(core, RefundRequest(format="retail", amount=Money(200_00, "CNY"), idempotency_key="RF-1", original_key="R-1"), now=at(4))

    assert await _verify(core) == []


async def test_a_budget_that_differs_from_the_campaigns_award_lines_is_named_by_campaign(core: Core) -> None:
    await add_campaign(core, "launch", fixed=100, budget=1000)
    await add_campaign(core, "quiet", fixed=5, budget=1000)
    member_id = await new_member(core, "13800138000")
    await buy(core, member_id, "R-1", at(3), "200.00")
    await buy(core, member_id, "R-2", at(4), "200.00")
    await _corrupt(
        core, update(campaign_budget_table).where(campaign_budget_table.c.campaign_code == "launch").values(issued=150)
    )

    found = await _verify(core)

    assert [(d.campaign, d.member_id, d.subject) for d in found] == [("launch", None, "campaign launch")]
    assert found[0].problem == "budget says 150 pts issued, its award lines in earn postings sum to 200"


async def test_award_lines_are_summed_across_batch_boundaries(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.ledger.verify_counters.keyset_batches", _batches_of_two)
    await add_campaign(core, "launch", fixed=10)
    member_id = await new_member(core, "13800138000")
    for n in range(5):
        await buy(core, member_id, f"R-{n}", at(3 + n), "20.00")

    assert await _verify(core) == []
    await _corrupt(core, update(campaign_budget_table).values(issued=40))
    assert [d.problem for d in await _verify(core)] == ["budget says 40 pts issued, its award lines in earn postings sum to 50"]


def _batches_of_two(conn, query, *, key):  # type: ignore[no-untyped-def]
    """:func:`keyset_batches` two rows at a time, so five earns take three statements."""
    return keyset_batches(conn, query, key=key, size=2)


# --- the command ---------------------------------------------------------------------------------------


async def test_the_cli_exits_non_zero_naming_the_campaign_and_the_member(
    core: Core, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_campaign(core, "launch", fixed=100)
    member_id = await _member(core)
    code = (await _vouchers(core, member_id, 1)).details["couponCodes"][0]
    assert await _cli_verify(backend, monkeypatch) == (0, _cli_clean())
    await _corrupt(core, update(campaign_budget_table).values(issued=1))
    await _corrupt(core, update(coupon_table).where(coupon_table.c.code == code).values(status="cancelled", cancelled_at=at(4)))

    exit_code, output = await _cli_verify(backend, monkeypatch)

    assert exit_code == 1
    assert "campaign launch: budget says 1 pts issued, its award lines in earn postings sum to 100" in output
    assert f"member {member_id}: coupon {code} of redemption" in output


def _cli_clean() -> str:
    return (
        "Ledger verified: every posting balances, every stored balance matches its entries and lots, and every "
        "balance after, coupon, benefit counter and campaign budget agrees.\n"
    )
