"""Facts of Istio, Kubernetes and meshbridge that several modules need, each defined once.

The components, the wiring (`stacks/`), the configuration model and synth import these instead of
writing the values out again: a port, a namespace or a label that two modules spell differently
breaks the traffic path silently (docs/architecture.md, "Traffic path and AWS prerequisites").
This module imports nothing of the project, so anything may import it.
"""

from __future__ import annotations

# ----------------------------------------------------------------------------------- Istio

# the root namespace: istiod, the east-west gateway, `cacerts`, the mesh-wide PeerAuthentication
ISTIO_NAMESPACE = "istio-system"
# the east-west gateway's TLS port (AUTO_PASSTHROUGH): the NLB listener and target group, the
# ServiceEntry endpoints of imports and the `cross-network-gateway` server all use it
GATEWAY_PORT = 15443
# the east-west gateway's status port: the target group's health check
HEALTH_PORT = 15021
HEALTH_PATH = "/healthz/ready"
# Helm release of the east-west gateway, and so the name of its Service (the TargetGroupBinding's
# serviceRef) and of the TargetGroupBinding itself
EASTWEST_RELEASE = "istio-eastwestgateway"
INGRESS_RELEASE = "istio-ingressgateway"
# the `istio` label of the ingress gateway pods: what a distributed Gateway selects
INGRESS_SELECTOR = {"istio": "ingressgateway"}
# A gateway rollout without dropped connections (docs/runbook.md, "Gateway rollouts"): the NLB's
# target group keeps a deregistering target's flows for DEREGISTRATION_DELAY_SECONDS, and an NLB keeps
# sending it new flows for a while after deregistration (aws-load-balancer-controller#3270); the
# east-west gateway's Envoy therefore keeps serving for longer (GATEWAY_DRAIN_SECONDS,
# terminationDrainDuration), and the pod's grace period outlasts the drain so the kubelet never
# kills Envoy mid-drain. Invariant: DEREGISTRATION_DELAY < DRAIN < GRACE (tests/test_network.py).
DEREGISTRATION_DELAY_SECONDS = 60
GATEWAY_DRAIN_SECONDS = 90
GATEWAY_GRACE_SECONDS = 120
# the label istiod reads the cluster's network from (on the istio-system Namespace)
NETWORK_LABEL = "topology.istio.io/network"
# the DNS domain of the clusters' Services
CLUSTER_DOMAIN = "cluster.local"
# Istio's default access log provider (an extension provider every mesh config has: file /dev/stdout)
ACCESS_LOG_PROVIDER = "envoy"
# the mesh-wide Telemetry object in the root namespace (access logging, tracing)
MESH_TELEMETRY = "mesh-default"
# the extension provider meshbridge adds to istiod's meshConfig for tracing, and the collectors'
# default ports (OTLP gRPC, Zipkin HTTP)
TRACING_PROVIDER = "meshbridge-tracing"
TRACING_PORTS = {"opentelemetry": 4317, "zipkin": 9411}
# the UID of the Istio proxy: traffic from it bypasses the sidecar's capture, so no workload that
# must go through the sidecar (a connectivity check) may run as it
PROXY_UID = 1337

# ------------------------------------------------------------------------------- meshbridge

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGER = "meshbridge"
# the label of every Kubernetes object meshbridge creates (copy it: a dict is mutable)
MANAGED_BY = {MANAGED_BY_LABEL: MANAGER}


def service_fqdn(name: str, namespace: str, domain: str = CLUSTER_DOMAIN) -> str:
    """The in-cluster FQDN of a Kubernetes Service: `<name>.<namespace>.svc.<domain>`."""
    return f"{name}.{namespace}.svc.{domain}"


# ------------------------------------------------------------------------ connectivity checks

# the default image of the connectivity check Jobs (python3 from the official image, pinned by digest;
# `meshbridge:verify.connectivity.image` replaces it, e.g. with a mirror in the cluster's registry)
CHECK_IMAGE = (
    "docker.io/library/python:3.13-alpine@sha256:399babc8b49529dabfd9c922f2b5eea81d611e4512e3ed250d75bd2e7683f4b0"
)

# ------------------------------------------------------------------------------------ AWS

# region prefix -> partition, longest prefix first (AWS's partitions: aws, aws-cn, aws-us-gov and the
# isolated ones); every other region is in `aws`. An account id names an account within one
# partition only: the same twelve digits in another partition are somebody else's account.
PARTITION_PREFIXES = (
    ("us-isob-", "aws-iso-b"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-isof-", "aws-iso-f"),
    ("us-iso-", "aws-iso"),
    ("us-gov-", "aws-us-gov"),
    ("cn-", "aws-cn"),
)


def partition(region: str) -> str:
    """The AWS partition of a region (IAM ARNs, which regions PrivateLink can join)."""
    return next((name for prefix, name in PARTITION_PREFIXES if region.startswith(prefix)), "aws")


def arn_partition(arn: str) -> str:
    """The partition an ARN names (`arn:<partition>:...`)."""
    return arn.split(":", 2)[1]
