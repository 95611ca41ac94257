"""The mesh CA hierarchy: root CA(s), one intermediate CA per cluster, and Istio's `cacerts` Secret.

Shape of the certificates (parity with istio `tools/certs/Makefile.selfsigned.mk`, docs/pki.md):
- root: self-signed, CA:TRUE pathlen:1, key usage cert signing + CRL signing, subject O=<org>,
  OU=<root name>, CN=Root CA;
- intermediate: signed by the active root, CA:TRUE with max_path_length 0 requested, key usage cert
  signing + digital signature + key encipherment, no extended key usage, SAN
  DNS:istiod.istio-system.svc, subject O=<org>, CN=Intermediate CA, L=<cluster>.

Private keys stay Pulumi secrets end to end (the tls provider marks `private_key_pem` secret; the
`ca-key.pem` value is wrapped again before it goes into the Secret).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from components.constants import ISTIO_NAMESPACE, MANAGED_BY, PART_OF_LABEL
from components.options import child_opts

ISTIOD_SAN = f"istiod.{ISTIO_NAMESPACE}.svc"
ROOT_CN = "Root CA"
INTERMEDIATE_CN = "Intermediate CA"
ROOT_USES = ["cert_signing", "crl_signing"]
# Exactly one CA (the cluster's intermediate) may sit between the root and a workload certificate.
# This also enforces what pathlen:0 on the intermediate means: pulumi-tls passes max_path_length 0
# to Go's crypto/x509 without MaxPathLenZero, which encodes it as "no limit" (docs/pki.md).
ROOT_MAX_PATH_LENGTH = 1
# no extended key usage: Istio's intermediate has none (if EKUs are ever added they must include
# both server_auth and client_auth, or workload certificates signed below it stop verifying)
INTERMEDIATE_USES = ["cert_signing", "digital_signature", "key_encipherment"]
CACERTS_NAME = "cacerts"
CACERTS_NAMESPACE = ISTIO_NAMESPACE


@dataclass(frozen=True)
class KeySpec:
    """Key algorithm of every CA key: RSA with `rsa_bits` or ECDSA with `ecdsa_curve` (P256/P384)."""

    algorithm: str  # "RSA" or "ECDSA"
    rsa_bits: int = 4096  # RSA key size (2048, 3072, 4096)
    ecdsa_curve: str = "P256"  # ECDSA curve (P256, P384)

    def private_key(self, name: str, opts: pulumi.ResourceOptions) -> tls.PrivateKey:
        # pulumi-tls itself lists privateKeyPem, privateKeyPemPkcs8 and privateKeyOpenssh in
        # additional_secret_outputs (tests/test_pki.py checks it), so nothing is added here
        rsa = self.algorithm == "RSA"
        return tls.PrivateKey(
            name,
            algorithm=self.algorithm,
            rsa_bits=self.rsa_bits if rsa else None,
            ecdsa_curve=None if rsa else self.ecdsa_curve,
            opts=opts,
        )


def concat_pem(pems: Sequence[pulumi.Input[str]]) -> pulumi.Output[str]:
    """PEM blocks concatenated in the given order, each ending with exactly one newline."""
    return pulumi.Output.all(*pems).apply(lambda items: "".join(str(p).rstrip("\n") + "\n" for p in items))


# ------------------------------------------------------------------------------------ root


@dataclass(frozen=True)
class RootCaArgs:
    """One root CA of the mesh."""

    root_name: str  # the root's name in `meshbridge:ca.roots`: the subject's OU
    key: KeySpec  # key algorithm and size
    organization: str  # the subject's O
    validity_hours: int  # validity of the self-signed certificate
    provider: pulumi.ProviderResource  # the tls.Provider
    # protect key and certificate: deleting or replacing them needs `pulumi state unprotect` first
    protect: bool = True


class RootCa(pulumi.ComponentResource):
    """A self-signed root CA (tls.PrivateKey + tls.SelfSignedCert)."""

    key: tls.PrivateKey
    cert: tls.SelfSignedCert
    cert_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]

    def __init__(self, name: str, args: RootCaArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:pki:RootCa", name, None, opts)
        self.args = args
        self.key = args.key.private_key(f"{name}-key", child_opts(self, args.provider, protect=args.protect))
        self.cert = tls.SelfSignedCert(
            f"{name}-cert",
            private_key_pem=self.key.private_key_pem,
            is_ca_certificate=True,
            max_path_length=ROOT_MAX_PATH_LENGTH,
            set_subject_key_id=True,
            allowed_uses=ROOT_USES,
            validity_period_hours=args.validity_hours,
            subject=tls.SelfSignedCertSubjectArgs(
                organization=args.organization,
                organizational_unit=args.root_name,
                common_name=ROOT_CN,
            ),
            opts=child_opts(self, args.provider, protect=args.protect),
        )
        self.cert_pem = self.cert.cert_pem
        self.private_key_pem = pulumi.Output.secret(self.key.private_key_pem)
        self.register_outputs({"certPem": self.cert_pem})


# ---------------------------------------------------------------------------- intermediate


@dataclass(frozen=True)
class IntermediateCaArgs:
    """The intermediate CA of one cluster, signed by the active root."""

    cluster: str  # the cluster's name: the subject's L
    key: KeySpec  # key algorithm and size
    organization: str  # the subject's O
    validity_hours: int  # validity of the signed certificate
    early_renewal_hours: int  # re-issued by the first `pulumi up` this long before it expires
    issuer_cert_pem: pulumi.Input[str]  # the active root's certificate
    issuer_key_pem: pulumi.Input[str]  # the active root's private key (kept secret)
    provider: pulumi.ProviderResource  # the tls.Provider


class IntermediateCa(pulumi.ComponentResource):
    """A cluster's intermediate CA (PrivateKey + CertRequest + LocallySignedCert), istiod's signer."""

    key: tls.PrivateKey
    csr: tls.CertRequest
    cert: tls.LocallySignedCert
    cert_pem: pulumi.Output[str]
    expires: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]

    def __init__(self, name: str, args: IntermediateCaArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:pki:IntermediateCa", name, None, opts)
        self.args = args
        self.key = args.key.private_key(f"{name}-key", child_opts(self, args.provider))
        self.csr = tls.CertRequest(
            f"{name}-csr",
            private_key_pem=self.key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(
                organization=args.organization,
                common_name=INTERMEDIATE_CN,
                locality=args.cluster,
            ),
            dns_names=[ISTIOD_SAN],
            opts=child_opts(self, args.provider),
        )
        self.cert = tls.LocallySignedCert(
            f"{name}-cert",
            cert_request_pem=self.csr.cert_request_pem,
            ca_cert_pem=args.issuer_cert_pem,
            ca_private_key_pem=pulumi.Output.secret(args.issuer_key_pem),
            is_ca_certificate=True,
            max_path_length=0,
            set_subject_key_id=True,
            allowed_uses=INTERMEDIATE_USES,
            validity_period_hours=args.validity_hours,
            # re-issued by the first `pulumi up` inside this window; istiod reloads it without restart
            early_renewal_hours=args.early_renewal_hours,
            opts=child_opts(self, args.provider),
        )
        self.cert_pem = self.cert.cert_pem
        # RFC 3339 end of validity: the stack outputs, synth's summary and the policy pack show it
        self.expires = self.cert.validity_end_time
        self.private_key_pem = pulumi.Output.secret(self.key.private_key_pem)
        self.register_outputs({"certPem": self.cert_pem, "validityEndTime": self.expires})


# -------------------------------------------------------------------------------- cacerts


@dataclass(frozen=True)
class CaCertsArgs:
    """The four files of Istio's plugged-in CA secret."""

    ca_cert_pem: pulumi.Input[str]  # ca-cert.pem: the cluster's intermediate certificate
    ca_key_pem: pulumi.Input[str]  # ca-key.pem: its private key (wrapped as a secret again)
    root_cert_pem: pulumi.Input[str]  # root-cert.pem: every trusted root, identical in every cluster
    cert_chain_pem: pulumi.Input[str]  # cert-chain.pem: the intermediate, then the active root
    provider: pulumi.ProviderResource  # the cluster's kubernetes.Provider
    # the istio-system Namespace: the Secret is created after it (and istiod after the Secret)
    namespace: pulumi.Resource
    namespace_name: str = CACERTS_NAMESPACE  # where istiod reads `cacerts`: its own namespace


class CaCerts(pulumi.ComponentResource):
    """The `cacerts` Secret in istio-system that istiod reads at start (create it before istiod)."""

    secret: k8s.core.v1.Secret

    def __init__(self, name: str, args: CaCertsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:pki:CaCerts", name, None, opts)
        self.secret = k8s.core.v1.Secret(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CACERTS_NAME,
                namespace=args.namespace_name,
                labels={**MANAGED_BY, PART_OF_LABEL: "meshbridge-pki"},
            ),
            type="Opaque",
            string_data={
                "ca-cert.pem": args.ca_cert_pem,
                "ca-key.pem": pulumi.Output.secret(args.ca_key_pem),
                "root-cert.pem": args.root_cert_pem,
                "cert-chain.pem": args.cert_chain_pem,
            },
            opts=child_opts(self, args.provider, depends_on=[args.namespace]),
        )
        self.register_outputs({})
