"""What a plugin declares to have settings an admin can change: a pydantic model and its registration.

Re-exported by :mod:`gateway.plugin_api` (plugins import them from there). A format's settings are
a :class:`PluginSettings` subclass: every field has a default (what the format does until an admin
says otherwise), constraints and a description. The gateway stores only the fields an admin
changed, validates every change with the model, and hands plugin code a fresh instance of the
model with the current values as ``Activity.settings`` and ``RedemptionRequest.settings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class PluginSettings(BaseModel):
    """Base class of a format's settings model: frozen, and unknown fields are refused.

    Subclass it with one field per tunable, each with a default and a description::

        class CinemaSettings(PluginSettings):
            ticket_rate: Decimal = Field(default=Decimal("2"), gt=0, le=20, description="Points per CN¥1 of tickets.")

    Field names are the keys admins use (no aliases). Prefer tuples to lists and sets: an instance
    is frozen, but a list inside it is not, and a set has no stable JSON order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    @classmethod
    def of(cls, source: Any) -> Self:
        """The settings carried by ``source`` (an ``Activity`` or a ``RedemptionRequest``), or the defaults.

        The gateway fills ``source.settings`` with this format's current settings; an activity
        built by hand in a test carries none, and then the model's defaults apply.

        :raises TypeError: ``source`` carries settings of another model (another format's).
        """
        settings = getattr(source, "settings", None)
        if settings is None:
            return cls()
        if not isinstance(settings, cls):
            raise TypeError(f"expected {cls.__name__} settings, got {type(settings).__name__}")
        return settings

    def points_offset_cap(self) -> int | None:
        """The largest share of a bill, in percent, the format lets points pay (points plus cash); ``None``: no cap of its own.

        The gateway's ``pointsOffsetQuote`` and ``applyPointsOffset`` use the lower of this and the
        group's cap (``ATRIUM_POINTS_OFFSET_CAP_PERCENT`` or the format's override): a format may
        accept less of its bills in points than the group allows, never more. Override it to
        return a field of your model, e.g. ``return self.points_offset_cap_percent``.
        """
        return None


@dataclass(frozen=True)
class FormatSettings:
    """A format's settings model, registered with ``atrium_register_settings``.

    :param format: the format code the settings belong to (one model per format).
    :param model: a :class:`PluginSettings` subclass whose every field has a default.
    :param description: what the settings govern, for admins.
    """

    format: str
    model: type[PluginSettings]
    description: str = ""
