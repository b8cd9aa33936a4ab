"""The plugin author kit: run the real gateway with your plugins in tests.

:mod:`gateway.testing.pytest_plugin` holds the pytest fixtures (loaded automatically where the
gateway is installed); :mod:`gateway.testing.harness` the pieces they are built from, usable from
any script. docs/plugins.md, "Testing your plugin", shows both.
"""

from gateway.testing.harness import (
    AtriumMember,
    GatewayUnderTest,
    GraphQLClient,
    GraphQLErrors,
    MemberFactory,
    PluginChoice,
    build_test_host,
    migrate_sqlite,
    open_gateway,
)

__all__ = [
    "AtriumMember",
    "GatewayUnderTest",
    "GraphQLClient",
    "GraphQLErrors",
    "MemberFactory",
    "PluginChoice",
    "build_test_host",
    "migrate_sqlite",
    "open_gateway",
]
