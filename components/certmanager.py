"""The cert-manager CA backend (`meshbridge:ca.backend: cert-manager`, docs/pki.md): cert-manager's
own chart, and per cluster the Certificate that has the user's issuer sign the cluster's
intermediate CA into Istio's `cacerts` Secret.

cert-manager writes `cacerts` as a `kubernetes.io/tls` Secret (`tls.crt`: the intermediate and the
issuer's chain below the root, `tls.key`: its key, `ca.crt`: the root). istiod reads that format
from the same mount (`detectSigningCABundleAndCRL` in pilot/pkg/bootstrap/istio_ca.go of the pinned
Istio: `tls.crt` present -> signing cert `tls.crt`, key `tls.key`, root `ca.crt`, chain
`tls.crt` + `ca.crt`). No private key passes through Pulumi: the intermediate's key is made by
cert-manager in the cluster, the root's stays with the issuer.

The Certificate is shaped like the pulumi-tls intermediate (components/pki.py): CA, key usages cert
sign + digital signature + key encipherment and no extended key usage, SAN
`istiod.istio-system.svc`, subject O=<organization>, CN=Intermediate CA, L=<cluster>. Pulumi waits
for it to be Ready (`pulumi.com/waitFor`), so istiod, which depends on it, starts only once
`cacerts` holds the issued intermediate (istiod started without `cacerts` self-signs for good).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.constants import ISTIO_NAMESPACE, MANAGED_BY, PART_OF_LABEL
from components.helm import HelmChart, HelmChartArgs, chart_source
from components.options import Dependency, child_opts
from components.pki import CACERTS_NAME, INTERMEDIATE_CN, ISTIOD_SAN, KeySpec

CERT_MANAGER_API = "cert-manager.io/v1"
CERT_MANAGER_GROUP = "cert-manager.io"
CHART = "cert-manager"
RELEASE = "cert-manager"
# cert-manager's chart requires Kubernetes >= 1.22 (its Chart.yaml kubeVersion) and reads the version
# for nothing else; pulumi-kubernetes renders a chart for the cluster's version, or for Helm's
# library default 1.20 when the cluster cannot be reached (a preview of a cluster that is down),
# which the chart refuses. The lowest version it accepts is given instead.
KUBE_VERSION = "1.22.0"
# Pulumi waits until cert-manager has issued the certificate into the Secret
WAIT_FOR_READY = {"pulumi.com/waitFor": "condition=Ready"}
# the Certificate's name: the Secret it writes has the same name
CERTIFICATE_NAME = CACERTS_NAME
# the CA Issuer meshbridge renders when the user gives the Secret with the root's key pair
CA_ISSUER_NAME = "meshbridge-mesh-root"
# cert-manager key usages of an Istio intermediate (no extended key usage, as in components/pki.py)
INTERMEDIATE_USAGES = ["cert sign", "digital signature", "key encipherment"]
LABELS = {**MANAGED_BY, PART_OF_LABEL: "meshbridge-pki"}
# the SHA-256 of the root the Certificate chains to (`synth --check` compares it between clusters)
ROOT_FINGERPRINT_ANNOTATION = "meshbridge.io/root-sha256"
# ca.backend aws-pca: the AWS Private CA that signs the Certificate (its root, when meshbridge creates
# it, is known only once created)
ROOT_CA_ARN_ANNOTATION = "meshbridge.io/root-ca-arn"


def chart_values() -> dict[str, Any]:
    """cert-manager's chart values (keys of its values.yaml): its CRDs with the release, kept when the
    release is deleted (deleting a CRD deletes every Certificate); no startupapicheck hook Job (Pulumi
    waits for the webhook's Deployment instead)."""
    return {"crds": {"enabled": True, "keep": True}, "startupapicheck": {"enabled": False}}


@dataclass(frozen=True)
class CertManagerArgs:
    """cert-manager installed on one cluster."""

    version: str  # chart version (v1.19.1)
    repository: str  # chart repository (https:// or oci://) or a local folder holding `cert-manager/`
    namespace: str  # cert-manager's namespace (created here)
    provider: k8s.Provider  # the cluster's kubernetes.Provider


class CertManager(pulumi.ComponentResource):
    """cert-manager's namespace and chart; `ready` stands for every object of the chart."""

    ready: pulumi.Output[pulumi.Resource]

    def __init__(self, name: str, args: CertManagerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:pki:CertManager", name, None, opts)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace, labels=dict(MANAGED_BY)),
            opts=child_opts(self, args.provider),
        )
        chart, repository = chart_source(args.repository, CHART)
        self.chart = HelmChart(
            name,
            HelmChartArgs(
                release=RELEASE,
                namespace=args.namespace,
                chart=chart,
                version=args.version,
                values=chart_values(),
                provider=args.provider,
                repository=repository,
                kube_version=KUBE_VERSION,
            ),
            opts=child_opts(self, args.provider, depends_on=[self.namespace]),
        )
        self.ready = self.chart.ready
        self.register_outputs({})


@dataclass(frozen=True)
class IssuerRef:
    """The issuer that signs the intermediate, as a Certificate's `issuerRef` names it."""

    name: str
    kind: str
    group: str = CERT_MANAGER_GROUP

    def spec(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "group": self.group}


@dataclass(frozen=True)
class ClusterCaArgs:
    """A cluster's intermediate CA, issued by cert-manager into `cacerts`."""

    cluster: str  # the cluster's name: the subject's L
    key: KeySpec  # key algorithm and size of the intermediate (cert-manager makes the key)
    organization: str  # the subject's O
    validity_hours: int  # the Certificate's duration
    renew_before_hours: int  # cert-manager renews this long before it expires
    provider: k8s.Provider  # the cluster's kubernetes.Provider
    namespace: pulumi.Resource  # the istio-system Namespace
    # the issuer of an existing one; None: a CA Issuer in istio-system reading `ca_secret_name`
    issuer: Optional[IssuerRef] = None
    ca_secret_name: Optional[str] = None
    # the root's SHA-256 fingerprint, or (aws-pca) the CA's ARN: annotations of the Certificate
    # (`synth --check` compares clusters)
    root_fingerprint: str = ""
    root_ca_arn: Optional[pulumi.Input[str]] = None
    # what must exist before the Certificate: cert-manager's chart (its CRDs and webhook)
    depends_on: tuple[Dependency, ...] = ()


def private_key_spec(key: KeySpec) -> dict[str, Any]:
    """cert-manager's `spec.privateKey` for the key spec: a new key at every renewal."""
    if key.algorithm == "RSA":
        return {"algorithm": "RSA", "size": key.rsa_bits, "rotationPolicy": "Always"}
    return {"algorithm": "ECDSA", "size": 384 if key.ecdsa_curve == "P384" else 256, "rotationPolicy": "Always"}


def certificate_spec(args: ClusterCaArgs, issuer: IssuerRef) -> dict[str, Any]:
    return {
        "isCA": True,
        "commonName": INTERMEDIATE_CN,
        "subject": {"organizations": [args.organization], "localities": [args.cluster]},
        "dnsNames": [ISTIOD_SAN],
        "duration": f"{args.validity_hours}h",
        "renewBefore": f"{args.renew_before_hours}h",
        "privateKey": private_key_spec(args.key),
        "usages": list(INTERMEDIATE_USAGES),
        "secretName": CACERTS_NAME,
        "secretTemplate": {"labels": dict(LABELS)},
        "issuerRef": issuer.spec(),
    }


class ClusterCa(pulumi.ComponentResource):
    """The Certificate writing `istio-system/cacerts` (and the CA Issuer it names, when rendered here)."""

    certificate: k8s.apiextensions.CustomResource
    issuer: Optional[k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: ClusterCaArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:pki:ClusterCa", name, None, opts)
        after = [args.namespace, *args.depends_on]
        self.issuer = None
        issuer = args.issuer
        if issuer is None:
            assert args.ca_secret_name is not None
            self.issuer = k8s.apiextensions.CustomResource(
                f"{name}-issuer",
                api_version=CERT_MANAGER_API,
                kind="Issuer",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=CA_ISSUER_NAME, namespace=ISTIO_NAMESPACE, labels=dict(LABELS), annotations=WAIT_FOR_READY
                ),
                spec={"ca": {"secretName": args.ca_secret_name}},
                opts=child_opts(self, args.provider, depends_on=after),
            )
            issuer = IssuerRef(name=CA_ISSUER_NAME, kind="Issuer")
            after = [*after, self.issuer]
        self.certificate = k8s.apiextensions.CustomResource(
            name,
            api_version=CERT_MANAGER_API,
            kind="Certificate",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CERTIFICATE_NAME,
                namespace=ISTIO_NAMESPACE,
                labels=dict(LABELS),
                annotations={
                    **WAIT_FOR_READY,
                    **({ROOT_FINGERPRINT_ANNOTATION: args.root_fingerprint} if args.root_fingerprint else {}),
                    **({ROOT_CA_ARN_ANNOTATION: args.root_ca_arn} if args.root_ca_arn is not None else {}),
                },
            ),
            spec=certificate_spec(args, issuer),
            opts=child_opts(self, args.provider, depends_on=after),
        )
        self.register_outputs({})
