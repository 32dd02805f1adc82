"""Aliases for the original system's module names (``network.node_providers`` etc.)."""
