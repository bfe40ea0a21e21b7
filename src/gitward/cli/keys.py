"""`gitward keys ...`: placeholder until the key tools land (issue 3)."""

from __future__ import annotations

import click


@click.group(name="keys")
def keys_group() -> None:
    """Generate, inspect, convert and check SSH keys in every common format."""
