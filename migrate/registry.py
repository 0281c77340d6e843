"""Find connectors through the ``migrate.connectors`` entry points, importing them lazily.

Built-in connectors are registered in ``pyproject.toml`` exactly as a third-party package
registers its own; looking a scheme up imports that one module and nothing else.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from .connector import Connector
from .endpoint import Endpoint
from .errors import ConfigError

GROUP = "migrate.connectors"


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available_schemes() -> list[str]:
    """Schemes of every installed connector, without importing any of them."""
    return sorted(_entry_points())


def connector_class(scheme: str) -> type[Connector]:
    """Import and return the connector registered for ``scheme``."""
    found = _entry_points().get(scheme)
    if found is None:
        known = ", ".join(available_schemes()) or "none (is sovereign-migrate installed?)"
        raise ConfigError(f"no connector for '{scheme}:' endpoints; installed: {known}")
    try:
        cls = found.load()
    except ImportError as exc:
        raise ConfigError(f"the {scheme} connector cannot be loaded ({exc}); "
                          f"is its optional extra installed? pip install "
                          f"'sovereign-migrate[{scheme}]'") from None
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise ConfigError(f"entry point {found.value} is not a Connector class")
    return cls


def connector_for(endpoint: Endpoint) -> Connector:
    """The connector instance serving ``endpoint``."""
    return connector_class(endpoint.scheme)(endpoint)
