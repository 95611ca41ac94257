"""Wiring of the Service exports/imports, authorization, failover and distribution (issue 6)."""

from __future__ import annotations

from stacks.mesh import Mesh


def wire(mesh: Mesh) -> None:
    """Not built yet."""
