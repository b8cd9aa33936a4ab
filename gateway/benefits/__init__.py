"""Benefits (权益): the plugins' and the group's shared ones, their quotas, uses and the member's benefits wall.

- :mod:`gateway.benefits.catalogue`: every benefit in one shape; shared ones read through the configuration cache.
- :mod:`gateway.benefits.admin`: admins create, update and retire shared benefits (validated, audited).
- :mod:`gateway.benefits.eligibility`: why a benefit is locked for a member now.
- :mod:`gateway.benefits.periods`: quota periods in the group's time zone.
- :mod:`gateway.benefits.use`: using a benefit, idempotent and within its quota; cancelling a use.
- :mod:`gateway.benefits.wall`: the member's benefits wall with this period's usage.
"""
