"""The aws-pca CA backend (`meshbridge:ca.backend: aws-pca`, docs/pki.md): AWS Private CA holds the
mesh's root; in every cluster cert-manager and aws-privateca-issuer have it sign the cluster's
intermediate into Istio's `cacerts` Secret (the Certificate of components/certmanager.py).

- `PrivateRootCa`: a ROOT certificate authority in AWS Private CA (general-purpose mode), its
  self-signed certificate (template RootCACertificate/V1) and that certificate installed. Its key
  never leaves AWS Private CA; Pulumi state holds the CA's ARN and public certificate only.
- `PcaIssuerRole`: per cluster, an IAM role for aws-privateca-issuer's ServiceAccount (IRSA: trust in
  the cluster's IAM OIDC provider for that one ServiceAccount and the STS audience) allowed exactly
  what the issuer calls (pkg/aws/pca.go of aws-privateca-issuer: DescribeCertificateAuthority,
  IssueCertificate, GetCertificate) on the one CA, and IssueCertificate only with the template it
  asks for an `isCA` Certificate, SubordinateCACertificate_PathLen0/V1: the role can issue an
  intermediate that signs workloads, never a CA below it, nor anything from another CA.
- `CaAccessPolicy`: the CA's resource policy admitting those roles (with the same template
  condition), which a role of another account needs (docs: AWS Private CA, "Resource-based
  policies"); a role of the CA's own account is admitted by its identity policy alone, and is
  listed too.
- `PcaIssuer`: per cluster, aws-privateca-issuer's chart (its ServiceAccount annotated with the role)
  and the AWSPCAClusterIssuer naming the CA and its region.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.constants import MANAGED_BY
from components.helm import HelmChart, HelmChartArgs, chart_source
from components.options import Dependency, child_opts
from components.pki import ROOT_CN, KeySpec

PCA_API = "awspca.cert-manager.io/v1beta1"
PCA_GROUP = "awspca.cert-manager.io"
PCA_CLUSTER_ISSUER = "AWSPCAClusterIssuer"
CLUSTER_ISSUER_NAME = "meshbridge-aws-pca"
CHART = "aws-privateca-issuer"
RELEASE = "aws-privateca-issuer"
# the issuer's ServiceAccount (the chart's serviceAccount.name): the subject the role trusts
SERVICE_ACCOUNT = "aws-privateca-issuer"
# cert-manager's controller ServiceAccount (release `cert-manager`): it approves the issuer's requests
CERT_MANAGER_SERVICE_ACCOUNT = "cert-manager"
ROOT_TEMPLATE = "RootCACertificate/V1"
# what aws-privateca-issuer asks for when the Certificate is `isCA` (buildTemplateArn, pkg/aws/pca.go)
SUBORDINATE_TEMPLATE = "SubordinateCACertificate_PathLen0/V1"
# what the issuer calls on the CA (pkg/aws/pca.go: Sign, Get, getSigningAlgorithm)
ISSUER_ACTIONS = ["acm-pca:DescribeCertificateAuthority", "acm-pca:GetCertificate"]
ISSUE_ACTION = "acm-pca:IssueCertificate"
IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
STS_AUDIENCE = "sts.amazonaws.com"
# AWS Private CA keeps a deleted CA restorable this many days (7-30), then deletes it for good
PERMANENT_DELETION_DAYS = 30


def template_arn(partition: str, template: str) -> str:
    return f"arn:{partition}:acm-pca:::template/{template}"


def key_algorithm(key: KeySpec) -> str:
    """AWS Private CA's KeyAlgorithm for the mesh's key spec."""
    if key.algorithm == "RSA":
        return f"RSA_{key.rsa_bits}"
    return "EC_secp384r1" if key.ecdsa_curve == "P384" else "EC_prime256v1"


def signing_algorithm(key: KeySpec) -> str:
    """AWS Private CA's SigningAlgorithm for a CA key of the mesh's key spec."""
    if key.algorithm == "RSA":
        return "SHA256WITHRSA"
    return "SHA384WITHECDSA" if key.ecdsa_curve == "P384" else "SHA256WITHECDSA"


@dataclass(frozen=True)
class PrivateRootCaArgs:
    key: KeySpec
    organization: str  # the subject's O (CN is Root CA, as the pulumi-tls root's)
    validity_days: int
    partition: str  # the CA's AWS partition (template ARNs)
    provider: aws.Provider  # the account and region that hold the CA
    protect: bool  # `pulumi destroy` and a replacement refuse to delete the CA


class PrivateRootCa(pulumi.ComponentResource):
    """A root CA in AWS Private CA, activated with its self-signed certificate."""

    arn: pulumi.Output[str]
    cert_pem: pulumi.Output[str]
    ready: pulumi.Resource  # the installed certificate: the CA issues from then on

    def __init__(self, name: str, args: PrivateRootCaArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:pki:PrivateRootCa", name, None, opts)
        signing = signing_algorithm(args.key)
        self.authority = aws.acmpca.CertificateAuthority(
            name,
            type="ROOT",
            usage_mode="GENERAL_PURPOSE",
            permanent_deletion_time_in_days=PERMANENT_DELETION_DAYS,
            certificate_authority_configuration=aws.acmpca.CertificateAuthorityCertificateAuthorityConfigurationArgs(
                key_algorithm=key_algorithm(args.key),
                signing_algorithm=signing,
                subject=aws.acmpca.CertificateAuthorityCertificateAuthorityConfigurationSubjectArgs(
                    organization=args.organization, common_name=ROOT_CN
                ),
            ),
            opts=child_opts(self, args.provider, protect=args.protect),
        )
        self.certificate = aws.acmpca.Certificate(
            f"{name}-cert",
            certificate_authority_arn=self.authority.arn,
            certificate_signing_request=self.authority.certificate_signing_request,
            signing_algorithm=signing,
            template_arn=template_arn(args.partition, ROOT_TEMPLATE),
            validity=aws.acmpca.CertificateValidityArgs(type="DAYS", value=str(args.validity_days)),
            opts=child_opts(self, args.provider),
        )
        self.installed = aws.acmpca.CertificateAuthorityCertificate(
            f"{name}-install",
            certificate_authority_arn=self.authority.arn,
            certificate=self.certificate.certificate,
            opts=child_opts(self, args.provider),
        )
        self.arn = self.authority.arn
        self.cert_pem = self.certificate.certificate
        self.ready = self.installed
        self.register_outputs({"arn": self.arn})


def trust_policy(oidc_provider_arn: str, namespace: str, service_account: str) -> str:
    """IRSA: the cluster's OIDC provider may assume the role for one ServiceAccount, STS audience."""
    issuer = oidc_provider_arn.split(":oidc-provider/", 1)[1]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": oidc_provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{issuer}:aud": STS_AUDIENCE,
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


def issuer_statements(ca_arn: str, partition: str, principal: Optional[list[str]] = None) -> list[dict[str, Any]]:
    """What aws-privateca-issuer may do on the CA: read it and its certificates, and issue with the
    subordinate (path length 0) template only. With `principal`: as the CA's resource policy."""
    read: dict[str, Any] = {"Effect": "Allow", "Action": list(ISSUER_ACTIONS), "Resource": ca_arn}
    issue: dict[str, Any] = {
        "Effect": "Allow",
        "Action": ISSUE_ACTION,
        "Resource": ca_arn,
        "Condition": {"StringEquals": {"acm-pca:TemplateArn": template_arn(partition, SUBORDINATE_TEMPLATE)}},
    }
    if principal is not None:
        read = {"Sid": "MeshIssuersRead", "Principal": {"AWS": principal}, **read}
        issue = {"Sid": "MeshIssuersIssueIntermediates", "Principal": {"AWS": principal}, **issue}
    return [read, issue]


def identity_policy(ca_arn: str, partition: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": issuer_statements(ca_arn, partition)}, sort_keys=True)


@dataclass(frozen=True)
class PcaIssuerRoleArgs:
    cluster: str
    oidc_provider_arn: pulumi.Input[str]  # the cluster's IAM OIDC provider
    namespace: str  # aws-privateca-issuer's namespace (cert-manager's)
    ca_arn: pulumi.Input[str]
    partition: str
    provider: aws.Provider  # the cluster's account


class PcaIssuerRole(pulumi.ComponentResource):
    """The IAM role aws-privateca-issuer's pods assume (IRSA), limited to issuing from one CA."""

    arn: pulumi.Output[str]

    def __init__(self, name: str, args: PcaIssuerRoleArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:pki:PcaIssuerRole", name, None, opts)
        self.role = aws.iam.Role(
            name,
            description=f"aws-privateca-issuer of mesh cluster {args.cluster}: issues its Istio intermediate CA",
            assume_role_policy=pulumi.Output.from_input(args.oidc_provider_arn).apply(
                lambda arn: trust_policy(arn, args.namespace, SERVICE_ACCOUNT)
            ),
            opts=child_opts(self, args.provider),
        )
        self.policy = aws.iam.RolePolicy(
            f"{name}-issue",
            role=self.role.id,
            policy=pulumi.Output.from_input(args.ca_arn).apply(lambda arn: identity_policy(arn, args.partition)),
            opts=child_opts(self, args.provider),
        )
        self.arn = self.role.arn
        self.register_outputs({"arn": self.arn})


@dataclass(frozen=True)
class CaAccessPolicyArgs:
    ca_arn: pulumi.Input[str]
    role_arns: list[pulumi.Input[str]]  # every cluster's issuer role
    partition: str
    provider: aws.Provider  # the CA's account and region


class CaAccessPolicy(pulumi.ComponentResource):
    """The CA's resource policy: every cluster's issuer role may read the CA and issue intermediates."""

    def __init__(self, name: str, args: CaAccessPolicyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:pki:CaAccessPolicy", name, None, opts)

        def document(values: list[Any]) -> str:
            arn, roles = values[0], sorted(values[1:])
            return json.dumps(
                {"Version": "2012-10-17", "Statement": issuer_statements(arn, args.partition, roles)}, sort_keys=True
            )

        self.policy = aws.acmpca.Policy(
            name,
            resource_arn=args.ca_arn,
            policy=pulumi.Output.all(args.ca_arn, *args.role_arns).apply(document),
            opts=child_opts(self, args.provider),
        )
        self.register_outputs({})


def chart_values(role_arn: pulumi.Input[str], cert_manager_namespace: str) -> pulumi.Output[dict[str, Any]]:
    """aws-privateca-issuer's chart values (keys of its values.yaml): its ServiceAccount annotated with
    the IRSA role; cert-manager's controller (in `cert-manager_namespace`) may approve its requests."""
    return pulumi.Output.from_input(role_arn).apply(
        lambda arn: {
            "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT, "annotations": {IRSA_ROLE_ANNOTATION: arn}},
            "approverRole": {
                "enabled": True,
                "serviceAccountName": CERT_MANAGER_SERVICE_ACCOUNT,
                "namespace": cert_manager_namespace,
            },
        }
    )


@dataclass(frozen=True)
class PcaIssuerArgs:
    version: str  # aws-privateca-issuer's chart version
    repository: str
    namespace: str  # cert-manager's namespace (the chart is installed there)
    role_arn: pulumi.Input[str]
    ca_arn: pulumi.Input[str]
    ca_region: str
    provider: k8s.Provider
    depends_on: tuple[Dependency, ...] = ()  # cert-manager (its CRDs, its namespace)


class PcaIssuer(pulumi.ComponentResource):
    """aws-privateca-issuer's chart and the cluster-wide issuer naming the CA."""

    ready: pulumi.Output[pulumi.Resource]
    cluster_issuer: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: PcaIssuerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:pki:PcaIssuer", name, None, opts)
        chart, repository = chart_source(args.repository, CHART)
        self.chart = HelmChart(
            name,
            HelmChartArgs(
                release=RELEASE,
                namespace=args.namespace,
                chart=chart,
                version=args.version,
                values=chart_values(args.role_arn, args.namespace),
                provider=args.provider,
                repository=repository,
            ),
            opts=child_opts(self, args.provider, depends_on=list(args.depends_on)),
        )
        self.cluster_issuer = k8s.apiextensions.CustomResource(
            f"{name}-cluster-issuer",
            api_version=PCA_API,
            kind=PCA_CLUSTER_ISSUER,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CLUSTER_ISSUER_NAME, labels=dict(MANAGED_BY)),
            spec={"arn": args.ca_arn, "region": args.ca_region},
            opts=child_opts(self, args.provider, depends_on=[self.chart.ready]),
        )
        self.ready = self.chart.ready
        self.register_outputs({})
