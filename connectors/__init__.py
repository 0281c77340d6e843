"""Built-in connectors, each registered through the migrate.connectors entry points."""
