"""Wiring of the Istio control plane and east-west gateway per cluster (issue 5)."""

from __future__ import annotations

from stacks.mesh import Mesh


def wire(mesh: Mesh) -> None:
    """Not built yet."""
