"""Integrations with other tools, each a plugin of alab-training activated by its own entry point."""
