"""Wiring of the CA hierarchy: root(s), one intermediate and one cacerts Secret per cluster (issue 3)."""

from __future__ import annotations

from stacks.mesh import Mesh


def wire(mesh: Mesh) -> None:
    """Not built yet."""
