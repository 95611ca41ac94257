"""Resource names made from user input (cluster, namespace, service names, hosts), in one place.

A Pulumi resource is identified by its URN: type chain (the parents' types) and name. Renaming a
resource replaces it, so these formats are stable; a format that changed keeps the old one as an
`aliases` entry (`*_v0`). The names join DNS labels with `-`, which can itself appear in a label:
`shop/api-gateway` and `shop-api/gateway` would both give `<cluster>-shop-api-gateway`, clusters
`a` -> `b-to-c` and `a-to-b` -> `c` both `a-to-b-to-c`. The configuration check
(`stacks/config/checks.py`, `name_collisions`) refuses such inputs with the key path before any resource
is registered, and synth refuses a duplicate URN (synth/engine.py) as the last line of defence.

The children of the components follow the same formats (components/services.py, components/network.py):
`<cluster>-<namespace>-<service>-authz|-pod-<i>|-local`, `<cluster>-se-<host>`, `<cluster>-dr-<host>`,
`<consumer>-to-<producer>-endpoint…`, `<producer>-eastwest-…`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any


def root_ca(root: str) -> str:
    """`RootCa` of one entry of `meshbridge:ca.roots`."""
    return f"mesh-ca-{root}"


def intermediate_ca(cluster: str) -> str:
    """`IntermediateCa` of one cluster."""
    return f"{cluster}-intermediate-ca"


def cacerts(cluster: str) -> str:
    """`CaCerts` (and its Secret) of one cluster; with cert-manager its `ClusterCa` and Certificate."""
    return f"{cluster}-cacerts"


def cert_manager(cluster: str) -> str:
    """`CertManager` (cert-manager's chart) of one cluster."""
    return f"{cluster}-cert-manager"


def private_root_ca() -> str:
    """`PrivateRootCa` (ca.backend aws-pca): the mesh's root CA in AWS Private CA."""
    return "mesh-private-root-ca"


def pca_access_policy() -> str:
    """`CaAccessPolicy` (ca.backend aws-pca): the root CA's resource policy."""
    return "mesh-private-root-ca-access"


def pca_issuer(cluster: str) -> str:
    """`PcaIssuer` (aws-privateca-issuer's chart and AWSPCAClusterIssuer) of one cluster."""
    return f"{cluster}-aws-pca-issuer"


def pca_issuer_role(cluster: str) -> str:
    """`PcaIssuerRole` (aws-privateca-issuer's IAM role) of one cluster."""
    return f"{cluster}-aws-pca-issuer-role"


def control_plane(cluster: str) -> str:
    """`IstioControlPlane` of one cluster."""
    return f"{cluster}-istio"


def eastwest_gateway(cluster: str) -> str:
    """`EastWestGateway` of one producer cluster."""
    return f"{cluster}-istio-eastwest"


def ingress_gateway(cluster: str) -> str:
    """`IngressGateway` of one cluster."""
    return f"{cluster}-istio-ingress"


def export_component(cluster: str, namespace: str, service: str) -> str:
    """`ServiceExport` of one service in one producer cluster."""
    return f"{cluster}-export-{namespace}-{service}"


def export_component_v0(cluster: str, service: str) -> str:
    """The name before services were identified by namespace/name (kept as an alias)."""
    return f"{cluster}-export-{service}"


def import_component(cluster: str, namespace: str, service: str) -> str:
    """`ServiceImport` of one service in one consumer cluster."""
    return f"{cluster}-import-{namespace}-{service}"


def import_component_v0(cluster: str, service: str) -> str:
    return f"{cluster}-import-{service}"


def service_objects(cluster: str, namespace: str, service: str) -> str:
    """Prefix of the producer-side objects of a service (`-authz`, `-pod-<i>`, `-local`)."""
    return f"{cluster}-{namespace}-{service}"


def import_object(cluster: str, host: str) -> str:
    """Common part of the consumer-side objects of a host: `<cluster>-se-<host>` / `<cluster>-dr-<host>`."""
    return f"{cluster}-se-{host}"


def namespace_object(cluster: str, namespace: str) -> str:
    """A Namespace meshbridge creates in a cluster (`istio-system` by MeshCluster, the import namespace)."""
    return f"{cluster}-{namespace}"


def gateway_endpoint(consumer: str, producer: str) -> str:
    """`GatewayEndpoint` (interface VPC endpoint and its security group) of a (consumer, producer) pair."""
    return f"{consumer}-to-{producer}"


def workload_group(cluster: str, group: str) -> str:
    """`MeshWorkloads` of one workload group (meshbridge:workloads) in its cluster."""
    return f"{cluster}-workloads-{group}"


def private_gateway(producer: str) -> str:
    return f"{producer}-eastwest"


def istio_reader(cluster: str) -> str:
    """`IstioReader` (remote-secret reader account and token) of one cluster (discovery models)."""
    return f"{cluster}-istio-reader"


def remote_secret(holder: str, target: str) -> str:
    """`RemoteSecret` in `holder` for `target`'s API server (discovery models)."""
    return f"{holder}-remote-secret-{target}"


def distribution(entry: str) -> str:
    return f"distribute-{entry}"


def connectivity_checks(cluster: str) -> str:
    """`ConnectivityChecks` of one consumer cluster (its check Jobs)."""
    return f"{cluster}-connectivity-checks"


def connectivity_check(cluster: str, host: str, port: str | int) -> str:
    """The check Job of one (consumer cluster, imported host, port): stable while the path exists; what
    it tests changes the Job's Kubernetes name instead (components/checks.py), which replaces it."""
    return f"{cluster}-check-{host}-{port}"


def mesh_telemetry(cluster: str) -> str:
    """`MeshTelemetry` of one cluster (the mesh-wide Telemetry object)."""
    return f"{cluster}-telemetry"


# the longest file name (bytes) of common file systems (ext4, APFS, NTFS); object file names are ASCII
MAX_FILENAME = 255


def object_filename(obj: Mapping[str, Any]) -> str:
    """The file synth writes a Kubernetes object to, `<kind>[.<namespace>].<name>.yaml` (lower-case
    kind): one file per object and cluster, so two objects with one file name would hide each other
    (stacks/config/strict.py refuses a distributed object that would)."""
    meta = obj.get("metadata") or {}
    parts = [str(obj.get("kind", "object")).lower()]
    if meta.get("namespace"):
        parts.append(str(meta["namespace"]))
    parts.append(str(meta.get("name", "unnamed")))
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", ".".join(parts)) + ".yaml"
    if len(name) <= MAX_FILENAME:
        return name
    # a valid name can be longer than a file name may be (a 253-character alias in a namespace): keep
    # the start, readable, and end in a digest of the whole name (still one file per object)
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[: MAX_FILENAME - len(digest) - len('-.yaml')]}-{digest}.yaml"
