"""Atrium: a GraphQL gateway for group-wide loyalty.

Plugin authors import from :mod:`gateway.plugin_api` only; everything else in this package is the
gateway's own business and may change without notice.
"""

__version__ = "0.1.0"
