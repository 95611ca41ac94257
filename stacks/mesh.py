"""The composition of one stack: configuration in, a `Mesh` (every part, typed) out.

Each part is a function of the parts it needs and returns its own typed result, so the order below
is the order of the data flow (docs/architecture.md, "Layout of the program"):

    clusters -> pki -> network (AWS) -> discovery -> control planes -> exports -> east-west gateways
             -> gateway bindings -> (primary-remote: the remotes' control planes, gateways and
             bindings, after the primary's istiod path) -> imports
                                      \\-> distributions, telemetry
    ... -> connectivity checks (after every object of their path, in both clusters)

In local connectivity the network part is the configured gateway addresses only (no AWS
resource, no aws.Provider). The network's AWS parts come first: istiod's meshNetworks (discovery
models) names their addresses.
The east-west gateways pass through the hosts the exports export; the network's TargetGroupBinding
waits for the east-west gateway release (`bind_gateways`); imports point at the network's gateway
addresses and wait for each producer's binding, Gateway host and AuthorizationPolicy (ready before
published), which is why they come last.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.options import Dependency
from stacks.checks import Checks, wire_checks
from stacks.clusters import Clusters, wire_clusters
from stacks.config.model import MeshConfig
from stacks.discovery import Discovery, remote_prerequisites, wire_discovery
from stacks.distribution import Distributions, wire_distributions
from stacks.istio import (
    ControlPlanes,
    EastWestGateways,
    IngressGateways,
    wire_control_planes,
    wire_eastwest,
    wire_ingress,
)
from stacks.network import Network, bind_gateways, gateway_clusters, wire_network
from stacks.pki import Pki, wire_pki
from stacks.services import Exports, Imports, wire_exports, wire_imports
from stacks.telemetry import Telemetry, wire_telemetry
from stacks.workloads import Workloads, wire_workloads


@dataclass(frozen=True)
class Mesh:
    """Every part of one stack's mesh (stacks/outputs.py turns it into the outputs contract)."""

    config: MeshConfig
    clusters: Clusters
    pki: Pki
    control_planes: ControlPlanes
    exports: Exports
    eastwest: EastWestGateways
    ingress: IngressGateways
    network: Network
    discovery: Discovery
    imports: Imports
    distributions: Distributions
    telemetry: Telemetry
    checks: Checks
    workloads: Workloads


def build_mesh(cfg: MeshConfig) -> Mesh:
    # the AWS Load Balancer Controller's readiness gate where a TargetGroupBinding will be (never in
    # local connectivity: no AWS resource)
    aws = cfg.mesh.connectivity != "local"
    clusters = wire_clusters(cfg, readiness_gate=set(gateway_clusters(cfg)) if aws else set())
    pki = wire_pki(cfg, clusters)
    network = wire_network(cfg, clusters)
    discovery = wire_discovery(cfg, clusters, network)
    # primary-remote's remotes come second: their Istio parts wait for the primary's istiod path
    remotes = cfg.remote_clusters()
    first = [c.name for c in cfg.clusters if c.name not in remotes]
    control_planes = wire_control_planes(cfg, clusters, pki, discovery.istiod, only=first)
    exports = wire_exports(cfg, clusters, control_planes)
    workloads = wire_workloads(cfg, clusters, control_planes)
    hosts = exports.gateway_hosts(cfg)
    eastwest = wire_eastwest(cfg, clusters, control_planes, hosts, only=first)
    network = bind_gateways(network, eastwest, only=first)
    after: dict[str, list[Dependency]] = {}
    if remotes:
        after = remote_prerequisites(cfg, network, discovery, control_planes, eastwest)
        wire_control_planes(cfg, clusters, pki, discovery.istiod, only=remotes, after=after, planes=control_planes)
        wire_eastwest(cfg, clusters, control_planes, hosts, only=remotes, after=after, gateways=eastwest)
        network = bind_gateways(network, eastwest, only=remotes)
    ingress = wire_ingress(cfg, clusters, control_planes, after)
    imports = wire_imports(cfg, clusters, control_planes, exports, network, eastwest)
    distributions = wire_distributions(cfg, clusters, control_planes)
    telemetry = wire_telemetry(cfg, clusters, control_planes)
    checks = wire_checks(
        cfg, clusters, pki, control_planes, exports, eastwest, network, discovery, imports, distributions
    )
    return Mesh(
        config=cfg,
        clusters=clusters,
        pki=pki,
        control_planes=control_planes,
        exports=exports,
        eastwest=eastwest,
        ingress=ingress,
        network=network,
        discovery=discovery,
        imports=imports,
        distributions=distributions,
        telemetry=telemetry,
        checks=checks,
        workloads=workloads,
    )
