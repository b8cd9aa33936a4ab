"""The plugin settings table: per format, the settings an admin changed from the plugin's defaults.

One row per format that has ever had a setting changed. ``overrides`` holds only the fields whose
value differs from the default of the plugin's settings model (JSON, keyed by field name), so a
plugin upgrade that changes a default changes it for every group that did not override it.
Written only through :mod:`gateway.plugin_settings`, which validates with the model and audits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from gateway.persistence.models import _ts


class PluginSettingsRow(SQLModel, table=True):
    """The overridden settings of one format, and who changed them last."""

    __tablename__ = "plugin_settings"

    format: str = Field(primary_key=True, max_length=32)
    overrides: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _ts(nullable=False)
    updated_by: str = Field(max_length=128)


plugin_settings_table = PluginSettingsRow.__table__
