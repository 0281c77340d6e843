"""sovereign-migrate: move mail and chat to sovereign platforms, with proof."""

__version__ = "0.1.0"
