"""Plugin settings at run time: read through the configuration cache, changed by admins, audited.

Each format with a registered settings model (``atrium_register_settings``) has its overrides
(the fields an admin changed) in ``plugin_settings``, cached under ``plugin_settings:<format>``.
Earn and redemption read :func:`current_settings` once per request: on a warm cache that is no
SQL, and each request gets an instance of its own (built from the cached JSON), so nothing a
plugin does to it can leak into another request. Admin changes (:func:`update_settings`,
:func:`reset_settings`) validate the whole model, write the row and one ``config.plugin_settings``
audit entry in one transaction, and invalidate the key after the commit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway import plugin_settings_schema as schema
from gateway.audit import check_reason
from gateway.config_audit import record_config_change
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.plugin_settings_tables import plugin_settings_table
from gateway.plugin_settings_types import FormatSettings, PluginSettings

log = logging.getLogger(__name__)

CACHE_PREFIX = "plugin_settings:"
AUDIT_ENTITY = "plugin_settings"
WRITE_ATTEMPTS = 3
"""Tries of a change when another admin's first change of the same format commits meanwhile."""


def cache_key(format_code: str) -> str:
    """The configuration-cache key of a format's settings."""
    return CACHE_PREFIX + format_code


@dataclass(frozen=True)
class StoredSettings:
    """What the cache holds for a format: its overrides as JSON text (immutable) and who changed them last."""

    overrides_json: str
    updated_at: datetime | None
    updated_by: str | None

    @property
    def overrides(self) -> dict[str, Any]:
        """The overrides as a fresh dict."""
        return dict(json.loads(self.overrides_json))


@dataclass(frozen=True)
class SettingsView:
    """A format's settings as admins read them: schema, values, defaults and what was changed."""

    format: str
    description: str
    json_schema: dict[str, Any]
    values: dict[str, Any]
    defaults: dict[str, Any]
    changed: tuple[str, ...]
    updated_at: datetime | None
    updated_by: str | None


def find_settings(core: Core, format_code: str) -> FormatSettings:
    """The registered settings of ``format_code``, or ``PLUGIN_NOT_FOUND`` naming ``format``."""
    found = core.registry.settings.get(format_code)
    if found is None:
        if format_code in core.registry.formats:
            message = f"The plugin of format {format_code!r} declares no settings."
        else:
            message = f"No loaded plugin provides format {format_code!r}."
        raise AtriumError(ErrorCode.PLUGIN_NOT_FOUND, message, "format")
    return found


async def _stored(core: Core, spec: FormatSettings) -> StoredSettings:
    """The format's cached overrides; a miss reads the row and drops overrides the model refuses."""

    async def load() -> StoredSettings:
        async with core.db.read() as conn:
            row = await _row(conn, spec.format)
        if row is None:
            return StoredSettings("{}", None, None)
        overrides, notes = schema.clean(spec.model, row["overrides"] or {})
        for note in notes:
            log.warning("ignoring a stored %s setting the plugin no longer accepts: %s", spec.format, note)
        return StoredSettings(json.dumps(overrides, sort_keys=True), row["updated_at"], row["updated_by"])

    return await core.cache.get(cache_key(spec.format), load)


async def current_settings(core: Core, format_code: str) -> PluginSettings | None:
    """A fresh instance of the format's settings with the current values; ``None`` if it declares none.

    Called once per earn or redemption, before its transaction: on a warm cache it issues no SQL.
    """
    spec = core.registry.settings.get(format_code)
    if spec is None:
        return None
    stored = await _stored(core, spec)
    return spec.model.model_validate_json(stored.overrides_json)


async def read_settings(core: Core, format_code: str) -> SettingsView:
    """The format's settings for an admin: JSON schema, effective values, defaults, changed fields."""
    spec = find_settings(core, format_code)
    stored = await _stored(core, spec)
    instance = spec.model.model_validate_json(stored.overrides_json)
    overrides = stored.overrides
    return SettingsView(
        format=spec.format,
        description=spec.description,
        json_schema=spec.model.model_json_schema(),
        values=instance.model_dump(mode="json"),
        defaults=spec.model().model_dump(mode="json"),
        changed=tuple(name for name in spec.model.model_fields if name in overrides),
        updated_at=stored.updated_at,
        updated_by=stored.updated_by,
    )


async def update_settings(
    core: Core, format_code: str, values: Any, *, actor: str, reason: str, now: datetime
) -> SettingsView:
    """Set the fields in ``values`` (field name to new value); the others keep their current values.

    The whole model validates the result; a value equal to the default stops being an override.
    :raises InvalidSettings: ``INVALID_CONFIG`` per problem, naming ``values.<field>...``; nothing is written.
    """
    spec = find_settings(core, format_code)
    why = check_reason(reason)
    return await _change(core, spec, lambda overrides: schema.changed(spec.model, overrides, values), actor, why, now)


async def reset_settings(
    core: Core, format_code: str, fields: Iterable[str] | None, *, actor: str, reason: str, now: datetime
) -> SettingsView:
    """Put ``fields`` (every field when ``None``) back to the plugin's defaults.

    :raises InvalidSettings: an unknown field (``fields.<n>``), or what remains no longer validates.
    """
    spec = find_settings(core, format_code)
    why = check_reason(reason)
    names = None if fields is None else list(fields)
    return await _change(core, spec, lambda overrides: schema.reset(spec.model, overrides, names), actor, why, now)


async def _row(conn: AsyncConnection, format_code: str, *, lock: bool = False) -> Mapping[str, Any] | None:
    query = select(plugin_settings_table).where(plugin_settings_table.c.format == format_code)
    if lock:
        query = query.with_for_update()
    return (await conn.execute(query)).mappings().first()


async def _change(
    core: Core,
    spec: FormatSettings,
    compute: Callable[[dict[str, Any]], dict[str, Any]],
    actor: str,
    reason: str,
    now: datetime,
) -> SettingsView:
    """Apply ``compute`` to the stored overrides under the row's lock, write and audit; invalidate after commit.

    The row is locked (PostgreSQL; SQLite serialises writers), so two admins' changes apply one
    after the other, each validated against the other's result. When both create the format's
    first row, the loser's insert conflicts and it runs again, now over the winner's row.
    """
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            async with core.db.write() as conn:
                row = await _row(conn, spec.format, lock=True)
                before, _notes = schema.clean(spec.model, row["overrides"] if row else {})
                after = compute(before)
                if after == before:
                    break
                state = {"overrides": after, "updated_at": now, "updated_by": actor[:128]}
                table = plugin_settings_table
                if row is None:
                    await conn.execute(insert(table).values(format=spec.format, **state))
                else:
                    await conn.execute(update(table).where(table.c.format == spec.format).values(**state))
                await record_config_change(
                    conn, actor=actor, entity=AUDIT_ENTITY, key=spec.format, before=before, after=after, now=now, reason=reason
                )
        except IntegrityError:
            if attempt == WRITE_ATTEMPTS:
                raise
            continue
        await core.cache.invalidate(cache_key(spec.format))
        break
    return await read_settings(core, spec.format)
