"""Every table of the gateway, imported so ``SQLModel.metadata`` knows them all (migrations, drift test).

The ledger and identity tables live in :mod:`gateway.persistence.models`; each configuration
area keeps its tables in a module of its own, listed here.
"""

from __future__ import annotations

import gateway.persistence.benefit_tables  # noqa: F401
import gateway.persistence.campaign_tables  # noqa: F401
import gateway.persistence.coupon_tables  # noqa: F401
import gateway.persistence.models  # noqa: F401
import gateway.persistence.plugin_settings_tables  # noqa: F401
import gateway.persistence.settlement_tables  # noqa: F401
import gateway.persistence.tier_tables  # noqa: F401
