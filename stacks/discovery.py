"""Wiring of Istio's endpoint discovery (mesh.model multi-primary or primary-remote).

Per cluster whose API server another cluster's istiod reads, an `IstioReader` (account and token);
per (holder, target), a `RemoteSecret` in the holder with a kubeconfig for the target's API server
(endpoint and CA from the stack file or the infraStack, the token as a Pulumi secret). And what each
istiod's Helm values need: `meshNetworks` (every network's gateway address as that cluster reaches
it: the network part's addresses, port 15443), in multi-primary `meshConfig.serviceSettings` (every
Service cluster-local except the exported hosts: no sameness by default), `externalIstiod` for
primary-remote's primary, and Istio's remote profile with `remotePilotAddress` for its remotes.
docs/architecture.md, "Discovery models".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi

from components.constants import GATEWAY_PORT
from components.discovery import IstioReader, IstioReaderArgs, RemoteSecret, RemoteSecretArgs
from components.istio import cluster_local_settings
from components.options import Dependency
from stacks import names
from stacks.clusters import Clusters
from stacks.config.model import MeshConfig
from stacks.istio import ControlPlanes, EastWestGateways, IstiodSettings
from stacks.network import Network


@dataclass
class Discovery:
    """The discovery part: readers per read cluster, remote secrets per (holder, target), istiod settings."""

    model: str
    readers: dict[str, IstioReader] = field(default_factory=dict)
    remote_secrets: dict[tuple[str, str], RemoteSecret] = field(default_factory=dict)
    istiod: dict[str, IstiodSettings] = field(default_factory=dict)

    def settings(self, cluster: str) -> IstiodSettings:
        return self.istiod.get(cluster, IstiodSettings())

    def cluster_outputs(self, name: str) -> dict[str, Any]:
        """The `discovery` entry of a cluster's outputs (only with a discovery model)."""
        if self.model == "imports":
            return {}
        return {
            "discovery": {
                "remoteSecrets": sorted(t for h, t in self.remote_secrets if h == name),
                "readerServiceAccount": "meshbridge-istio-reader" if name in self.readers else None,
            }
        }


def mesh_networks(cfg: MeshConfig, network: Network, viewer: Optional[str]) -> pulumi.Output[dict[str, Any]]:
    """`global.meshNetworks` of one istiod: each network with its cluster's registry, and every other
    network's gateway on 15443 as `viewer` reaches it (viewer None: primary-remote's primary, which
    gives every network, its own included, the one address every cluster shares)."""
    entries: dict[str, Any] = {}
    for spec in cfg.clusters:
        entry: dict[str, Any] = {"endpoints": [{"fromRegistry": spec.name}]}
        if viewer is None:
            address: Optional[pulumi.Output[str]] = network.shared_gateway_address(spec.name)
        elif spec.name != viewer:
            address = network.gateway_address(viewer, spec.name)
        else:
            address = None
        if address is not None:
            entry["gateways"] = [{"address": address, "port": GATEWAY_PORT}]
        entries[spec.network] = entry
    return pulumi.Output.from_input(entries)


def exported_hosts(cfg: MeshConfig) -> list[str]:
    """The real FQDNs the services export (the hosts the producers' gateways pass: the service host
    and the per-pod hosts), from the configuration: istiod's values come before the exports."""
    return sorted({real for s in cfg.services for _, real in s.imported_hosts()})


def wire_discovery(cfg: MeshConfig, clusters: Clusters, network: Network) -> Discovery:
    """Readers, remote secrets and istiod settings for the configured model (nothing for imports)."""
    found = Discovery(model=cfg.mesh.model)
    if not cfg.mesh.discovery:
        return found
    remotes = set(cfg.remote_clusters())
    for target in cfg.read_clusters():
        found.readers[target] = IstioReader(
            names.istio_reader(target),
            IstioReaderArgs(
                cluster=target,
                provider=clusters[target].k8s_provider,
                namespace=clusters[target].istio_namespace,
                remote=target in remotes,
                token_generation=cfg.cluster(target).api_server.token_generation,
            ),
            opts=pulumi.ResourceOptions(parent=clusters[target]),
        )
    for target, reader in found.readers.items():
        inputs = clusters.inputs[target]
        assert inputs.api_server_endpoint is not None and inputs.api_server_ca is not None  # config checks
        for holder in cfg.secret_holders(target):
            found.remote_secrets[(holder, target)] = RemoteSecret(
                names.remote_secret(holder, target),
                RemoteSecretArgs(
                    holder=holder,
                    target=target,
                    server=inputs.api_server_endpoint,
                    ca_data=inputs.api_server_ca,
                    token=reader.token,
                    provider=clusters[holder].k8s_provider,
                    namespace=clusters[holder].istio_namespace,
                ),
                opts=pulumi.ResourceOptions(parent=clusters[holder]),
            )
    if cfg.mesh.model == "multi-primary":
        sameness = cluster_local_settings(exported_hosts(cfg))
        for spec in cfg.clusters:
            found.istiod[spec.name] = IstiodSettings(
                mesh_networks=mesh_networks(cfg, network, spec.name), service_settings=sameness
            )
    else:
        primary = str(cfg.mesh.primary_cluster)
        found.istiod[primary] = IstiodSettings(mesh_networks=mesh_networks(cfg, network, None), external_istiod=True)
        for remote in cfg.remote_clusters():
            found.istiod[remote] = IstiodSettings(remote_pilot_address=network.gateway_address(remote, primary))
    return found


def remote_prerequisites(
    cfg: MeshConfig, network: Network, discovery: Discovery, control_planes: ControlPlanes, eastwest: EastWestGateways
) -> dict[str, list[Dependency]]:
    """primary-remote: what each remote's Istio objects and east-west gateway wait for. A remote has
    no istiod: its pods are injected, and its Istio objects validated, by the primary's istiod,
    reached through the primary's east-west gateway (istiod Gateway and VirtualService, the NLB's
    istiod target groups filled by their bindings and the listeners on them, and in privatelink
    mode the remote's endpoint to the primary), and that istiod knows the remote only through its
    remote secret. Until all of them exist, pod creation fails (the injection webhook fails
    closed), so a gateway Deployment's await would race them. Empty for the other models."""
    if cfg.mesh.model != "primary-remote":
        return {}
    primary = str(cfg.mesh.primary_cluster)
    gateway = eastwest.by_cluster[primary]
    path: list[Dependency] = [control_planes.by_cluster[primary].istiod.ready, gateway.release.ready]
    path += [r for r in (gateway.istiod_gateway, gateway.istiod_virtual_service) if r is not None]
    if primary in network.gateways:
        path += [*network.gateways[primary].istiod_bindings, *network.gateways[primary].istiod_listeners]
    found: dict[str, list[Dependency]] = {}
    for remote in cfg.remote_clusters():
        link = network.endpoints.get((remote, primary))
        found[remote] = [*path, *([link] if link is not None else []), discovery.remote_secrets[(primary, remote)]]
    return found
