"""Wiring of the AWS private connectivity: PrivateGateway per producer, GatewayEndpoint per pair (issue 4)."""

from __future__ import annotations

from stacks.mesh import Mesh


def wire(mesh: Mesh) -> None:
    """Not built yet."""
