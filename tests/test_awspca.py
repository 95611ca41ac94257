"""The aws-pca CA backend (`meshbridge:ca.backend: aws-pca`, docs/pki.md "The aws-pca backend"): what
the configuration refuses (key paths, exit 2), the root CA in AWS Private CA, each cluster's issuer
role (IRSA, least privilege) and the CA's resource policy, cert-manager and aws-privateca-issuer on
every cluster, the Certificate writing `cacerts`, the outputs, that no CA key is in Pulumi's view,
the objects against aws-privateca-issuer's CRDs, and the Istio judge rendering its chart from its
pinned module (with faults in a copy of the tree)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy.rules import ca_key_strength, root_key_protected, web_identity_scoped
from synth.check import check_paths, extract_objects
from synth.engine import Registration, SynthResult, run_program, unwrap
from synth.render import helm_releases, write_tree
from tests.conftest import (
    cluster_objects,
    config_problems,
    judge_fault,
    of_type,
    run_judge,
    run_variant,
    stack_config,
    synth_refusal,
)
from tests.test_policy import as_policy_resources
from tests.validators import validate_object

STACK = "pca"
CA = "meshbridge:ca"
PCA = f"{CA}.awsPca"
CLUSTERS = ("orders-use1", "shop-euw1")
ACCOUNTS = {"orders-use1": "123600000001", "shop-euw1": "123600000002"}
CA_ARN = "${mesh-private-root-ca.arn}"
SUBORDINATE = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"
EXISTING_ARN = "arn:aws:acm-pca:eu-central-1:123600000009:certificate-authority/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
# a public root certificate (the certmanager example's: its key was thrown away)
ROOT_PEM: str = stack_config("certmanager")["config"][CA]["certManager"]["rootCertificatePem"]


@pytest.fixture(scope="module")
def pca() -> SynthResult:
    result = run_program(STACK)
    assert result.ok, result.errors
    return result


def _kind(result: SynthResult, cluster: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in cluster_objects(result, cluster) if o["kind"] == kind]


def _one(result: SynthResult, typ: str, name: str) -> Registration:
    (reg,) = [r for r in of_type(result, typ) if r.name == name]
    return reg


def _existing_ca(doc: dict[str, Any]) -> None:
    """The example switched to an existing CA (by ARN, with its root certificate)."""
    doc[CA]["awsPca"] = {"certificateAuthorityArn": EXISTING_ARN, "rootCertificatePem": ROOT_PEM}
    for key in ("protectRoot", "rootValidityHours"):
        doc[CA].pop(key)


# ---------------------------------------------------------------------------------- refusals


def _pca(doc: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = doc[CA]["awsPca"]
    return settings


def _cluster(doc: dict[str, Any], i: int) -> dict[str, Any]:
    cluster: dict[str, Any] = doc["meshbridge:clusters"][i]
    return cluster


REFUSED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("settings-without-backend", lambda d: d[CA].pop("backend"), f"{PCA}: only with {CA}.backend aws-pca"),
    ("local", lambda d: d["meshbridge:mesh"].update(connectivity="local"), f"{CA}.backend: aws-pca needs AWS"),
    ("roots", lambda d: d[CA].update(roots=[{"name": "r1"}]), f"{CA}.roots: only with {CA}.backend pulumi-tls"),
    ("active-root", lambda d: d[CA].update(activeRoot="root"), f"{CA}.activeRoot: only with"),
    (
        "cert-manager-settings",
        lambda d: d[CA].update(certManager={"rootCertificatePem": ROOT_PEM, "issuer": {"caSecretName": "x"}}),
        f"{CA}.certManager: only with {CA}.backend cert-manager",
    ),
    ("root-pem-for-a-new-ca", lambda d: _pca(d).update(rootCertificatePem=ROOT_PEM), f"{PCA}.rootCertificatePem: only"),
    ("unknown-cluster", lambda d: _pca(d).update(cluster="nope"), f"{PCA}.cluster: 'nope' is not one of"),
    ("days", lambda d: d[CA].update(rootValidityHours=87601), f"{CA}.rootValidityHours: 87601 is not a whole"),
    (
        "intermediate-outlives-root",
        lambda d: d[CA].update(intermediateValidityHours=87600),
        f"{CA}.intermediateValidityHours: 87600 must be shorter",
    ),
    ("renewal", lambda d: d[CA].update(earlyRenewalHours=8760), f"{CA}.earlyRenewalHours: 8760 must be shorter"),
    (
        "arn-without-root",
        lambda d: (_existing_ca(d), _pca(d).pop("rootCertificatePem")),
        f"{PCA}.rootCertificatePem: required with {PCA}.certificateAuthorityArn",
    ),
    (
        "arn-with-protect-root",
        lambda d: (_existing_ca(d), d[CA].update(protectRoot=True)),
        f"{CA}.protectRoot: only for the root CA meshbridge creates",
    ),
    (
        "arn-with-cluster",
        lambda d: (_existing_ca(d), _pca(d).update(cluster="orders-use1")),
        f"{PCA}.cluster: only for the root CA meshbridge creates",
    ),
    (
        "arn-with-a-leaf",
        lambda d: (_existing_ca(d), _pca(d).update(rootCertificatePem="root")),
        f"{PCA}.rootCertificatePem: is not a PEM",
    ),
    (
        "bad-arn",
        lambda d: _pca(d).update(certificateAuthorityArn="arn:aws:acm-pca:x"),
        f"{PCA}.certificateAuthorityArn",
    ),
    (
        "no-oidc",
        lambda d: _cluster(d, 1)["aws"].pop("oidcProviderArn"),
        "meshbridge:clusters[1].aws.oidcProviderArn: required with meshbridge:ca.backend aws-pca",
    ),
    (
        "oidc-of-another-account",
        lambda d: _cluster(d, 1)["aws"].update(oidcProviderArn=_cluster(d, 0)["aws"]["oidcProviderArn"]),
        "meshbridge:clusters[1].aws.oidcProviderArn: is in account 123600000001, not the cluster's accountId",
    ),
    (
        "oidc-not-an-arn",
        lambda d: _cluster(d, 0)["aws"].update(oidcProviderArn="oidc.eks.us-east-1.amazonaws.com/id/X"),
        "meshbridge:clusters[0].aws.oidcProviderArn",
    ),
    (
        "namespace-istio",
        lambda d: _pca(d)["certManager"].update(namespace="istio-system"),
        f"{PCA}.certManager.namespace: 'istio-system' is a namespace meshbridge creates",
    ),
    ("issuer-version", lambda d: _pca(d)["issuer"].update(version="1.11.0"), f"{PCA}.issuer.version"),
    ("unknown-key", lambda d: _pca(d).update(rootKeyPem="x"), f"{PCA}.rootKeyPem"),
]


@pytest.mark.parametrize(("mutate", "path"), [(m, p) for _, m, p in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_an_aws_pca_mistake_is_refused_with_its_key_path(mutate: Callable[[dict[str, Any]], None], path: str) -> None:
    problems = config_problems(STACK, mutate)
    assert any(line.startswith(path) for line in problems), problems


def test_the_worked_example_and_an_existing_ca_are_accepted() -> None:
    assert config_problems(STACK, lambda d: None) == []
    assert config_problems(STACK, _existing_ca) == []


def test_a_refusal_stops_synth_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    stderr = synth_refusal(tmp_path, STACK, lambda d: _cluster(d, 0)["aws"].pop("oidcProviderArn"))
    assert "meshbridge:clusters[0].aws.oidcProviderArn: required with meshbridge:ca.backend aws-pca" in stderr


# ------------------------------------------------------------------------- AWS: CA and IAM


def test_the_root_ca_is_created_in_the_named_clusters_account_protected_and_self_signed(pca: SynthResult) -> None:
    authority = _one(pca, "aws:acmpca/certificateAuthority:CertificateAuthority", "mesh-private-root-ca")
    assert authority.provider.endswith("::orders-use1-aws") and authority.protect
    config = authority.inputs["certificateAuthorityConfiguration"]
    assert (authority.inputs["type"], authority.inputs["usageMode"]) == ("ROOT", "GENERAL_PURPOSE")
    assert config == {
        "keyAlgorithm": "RSA_2048",
        "signingAlgorithm": "SHA256WITHRSA",
        "subject": {"commonName": "Root CA", "organization": "Acme Mesh"},
    }
    cert = _one(pca, "aws:acmpca/certificate:Certificate", "mesh-private-root-ca-cert")
    assert cert.inputs["templateArn"] == "arn:aws:acm-pca:::template/RootCACertificate/V1"
    assert cert.inputs["certificateSigningRequest"] == "${mesh-private-root-ca.certificateSigningRequest}"
    # rootValidityHours 87600 in the days AWS Private CA counts
    assert cert.inputs["validity"] == {"type": "DAYS", "value": "3650"}
    installed = _one(
        pca,
        "aws:acmpca/certificateAuthorityCertificate:CertificateAuthorityCertificate",
        "mesh-private-root-ca-install",
    )
    assert installed.inputs == {
        "certificate": "${mesh-private-root-ca-cert.certificate}",
        "certificateAuthorityArn": CA_ARN,
    }


def test_each_clusters_issuer_role_trusts_only_its_service_account_and_issues_only_intermediates(
    pca: SynthResult,
) -> None:
    for cluster in CLUSTERS:
        role = _one(pca, "aws:iam/role:Role", f"{cluster}-aws-pca-issuer-role")
        assert role.provider.endswith(f"::{cluster}-aws")  # in the cluster's own account
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        oidc = stack_config(STACK)["config"]["meshbridge:clusters"][CLUSTERS.index(cluster)]["aws"]["oidcProviderArn"]
        issuer = oidc.split(":oidc-provider/")[1]
        assert statement["Principal"] == {"Federated": oidc}
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Condition"] == {
            "StringEquals": {
                f"{issuer}:sub": "system:serviceaccount:cert-manager:aws-privateca-issuer",
                f"{issuer}:aud": "sts.amazonaws.com",
            }
        }
        policy = _one(pca, "aws:iam/rolePolicy:RolePolicy", f"{cluster}-aws-pca-issuer-role-issue")
        read, issue = json.loads(policy.inputs["policy"])["Statement"]
        # what aws-privateca-issuer calls, on this CA only
        assert read == {
            "Effect": "Allow",
            "Action": ["acm-pca:DescribeCertificateAuthority", "acm-pca:GetCertificate"],
            "Resource": CA_ARN,
        }
        assert issue == {
            "Effect": "Allow",
            "Action": "acm-pca:IssueCertificate",
            "Resource": CA_ARN,
            "Condition": {"StringEquals": {"acm-pca:TemplateArn": SUBORDINATE}},
        }
        assert web_identity_scoped(next(r for r in as_policy_resources(pca) if r.urn == role.urn)) == []


def test_the_cas_resource_policy_admits_every_clusters_role_for_intermediates_only(pca: SynthResult) -> None:
    (policy,) = of_type(pca, "aws:acmpca/policy:Policy")
    assert policy.provider.endswith("::orders-use1-aws") and policy.inputs["resourceArn"] == CA_ARN
    read, issue = json.loads(policy.inputs["policy"])["Statement"]
    roles = [f"${{{c}-aws-pca-issuer-role.arn}}" for c in CLUSTERS]
    assert read["Principal"] == issue["Principal"] == {"AWS": roles}
    assert issue["Action"] == "acm-pca:IssueCertificate"
    assert issue["Condition"] == {"StringEquals": {"acm-pca:TemplateArn": SUBORDINATE}}


# --------------------------------------------------------------------- Kubernetes, per cluster


def test_each_cluster_gets_cert_manager_the_issuer_and_the_certificate_writing_cacerts(pca: SynthResult) -> None:
    releases = helm_releases(pca)
    for cluster in CLUSTERS:
        assert releases[cluster]["cert-manager.yaml"]["namespace"] == "cert-manager"
        chart = releases[cluster]["aws-privateca-issuer.yaml"]
        assert (chart["chart"], chart["version"], chart["namespace"]) == (
            "aws-privateca-issuer",
            "v1.11.0",
            "cert-manager",
        )
        assert chart["values"] == {
            "serviceAccount": {
                "create": True,
                "name": "aws-privateca-issuer",
                "annotations": {"eks.amazonaws.com/role-arn": f"${{{cluster}-aws-pca-issuer-role.arn}}"},
            },
            # cert-manager's controller approves the issuer's CertificateRequests
            "approverRole": {"enabled": True, "serviceAccountName": "cert-manager", "namespace": "cert-manager"},
        }
        (issuer,) = _kind(pca, cluster, "AWSPCAClusterIssuer")
        assert issuer["apiVersion"] == "awspca.cert-manager.io/v1beta1"
        assert issuer["spec"] == {"arn": CA_ARN, "region": "us-east-1"}  # the CA's region, not the cluster's
        (cert,) = _kind(pca, cluster, "Certificate")
        spec = cert["spec"]
        assert spec["issuerRef"] == {
            "name": issuer["metadata"]["name"],
            "kind": "AWSPCAClusterIssuer",
            "group": "awspca.cert-manager.io",
        }
        # isCA: aws-privateca-issuer asks for SubordinateCACertificate_PathLen0/V1, what the roles may issue
        assert spec["isCA"] is True and spec["secretName"] == "cacerts"
        assert spec["privateKey"] == {"algorithm": "RSA", "size": 2048, "rotationPolicy": "Always"}
        assert cert["metadata"]["annotations"]["meshbridge.io/root-ca-arn"] == CA_ARN
        assert not [o for o in cluster_objects(pca, cluster) if o["kind"] == "Secret"]


def test_the_certificate_waits_for_the_issuer_the_active_ca_and_its_policy_and_istiod_for_it(pca: SynthResult) -> None:
    by_name = {r.name: r for r in pca.registrations}
    installed = by_name["mesh-private-root-ca-install"]
    (policy,) = of_type(pca, "aws:acmpca/policy:Policy")
    for cluster in CLUSTERS:
        cert = next(r for r in pca.registrations if r.type.endswith(":Certificate") and r.name == f"{cluster}-cacerts")
        assert cert.urn in by_name[f"{cluster}-istiod"].dependencies
        issuer = by_name[f"{cluster}-aws-pca-issuer-cluster-issuer"]
        chart = _one(pca, "meshbridge:helm:Chart", f"{cluster}-aws-pca-issuer")
        for before in (issuer, chart, installed, policy):
            assert before.urn in cert.dependencies, before.name
        assert chart.urn in issuer.dependencies
        assert _one(pca, "meshbridge:helm:Chart", f"{cluster}-cert-manager").urn in chart.dependencies


def test_outputs_name_the_ca_and_each_role_and_no_ca_key_is_in_pulumi_state(pca: SynthResult, tmp_path: Path) -> None:
    assert not [r for r in pca.registrations if r.type.startswith("tls:")]
    out = tmp_path / "tree"
    write_tree(pca, out)
    for f in out.rglob("*"):
        if f.is_file():
            assert "PRIVATE KEY" not in f.read_text(errors="replace"), f
    outputs = unwrap(pca.outputs)
    assert outputs["caBackend"] == "aws-pca"
    assert outputs["awsPca"] == {"certificateAuthorityArn": CA_ARN, "region": "us-east-1"}
    assert outputs["rootCertificatePem"] == "${mesh-private-root-ca-cert.certificate}\n"
    for cluster in CLUSTERS:
        assert outputs["clusters"][cluster]["pcaIssuerRoleArn"] == f"${{{cluster}-aws-pca-issuer-role.arn}}"
        assert "intermediateCertificatePem" not in outputs["clusters"][cluster]


def test_an_existing_ca_is_named_not_created(tmp_path: Path) -> None:
    result = run_variant(tmp_path, _existing_ca, STACK)
    assert result.ok, result.errors
    assert not [r for r in result.registrations if r.type.startswith("aws:acmpca/")]
    for cluster in CLUSTERS:
        (issuer,) = _kind(result, cluster, "AWSPCAClusterIssuer")
        assert issuer["spec"] == {"arn": EXISTING_ARN, "region": "eu-central-1"}
        policy = _one(result, "aws:iam/rolePolicy:RolePolicy", f"{cluster}-aws-pca-issuer-role-issue")
        assert {s["Resource"] for s in json.loads(policy.inputs["policy"])["Statement"]} == {EXISTING_ARN}
        (cert,) = _kind(result, cluster, "Certificate")
        assert cert["metadata"]["annotations"]["meshbridge.io/root-ca-arn"] == EXISTING_ARN
        assert len(cert["metadata"]["annotations"]["meshbridge.io/root-sha256"]) == 64
    outputs = unwrap(result.outputs)
    assert outputs["rootCertificatePem"] == ROOT_PEM
    assert outputs["awsPca"] == {"certificateAuthorityArn": EXISTING_ARN, "region": "eu-central-1"}


def test_an_ecdsa_mesh_gets_an_ecdsa_root_in_aws_private_ca(tmp_path: Path) -> None:
    result = run_variant(tmp_path, lambda d: d[CA].update(keyAlgorithm="ECDSA", ecdsaCurve="P384"), STACK)
    assert result.ok, result.errors
    authority = _one(result, "aws:acmpca/certificateAuthority:CertificateAuthority", "mesh-private-root-ca")
    config = authority.inputs["certificateAuthorityConfiguration"]
    assert (config["keyAlgorithm"], config["signingAlgorithm"]) == ("EC_secp384r1", "SHA384WITHECDSA")
    cert = _one(result, "aws:acmpca/certificate:Certificate", "mesh-private-root-ca-cert")
    assert cert.inputs["signingAlgorithm"] == "SHA384WITHECDSA"


def test_the_objects_are_valid_against_aws_privateca_issuers_crds(pca: SynthResult) -> None:
    for cluster in CLUSTERS:
        for obj in cluster_objects(pca, cluster):
            assert validate_object(obj) == [], obj
    (issuer,) = _kind(pca, "orders-use1", "AWSPCAClusterIssuer")
    bad = {**issuer, "spec": {**issuer["spec"], "arn": 7, "roleArn": "x"}}
    problems = validate_object(bad)
    assert problems and "AWSPCAClusterIssuer meshbridge-aws-pca" in problems[0], problems


def test_the_policy_pack_checks_the_root_in_aws_private_ca_and_the_roles_trust(pca: SynthResult) -> None:
    resources = as_policy_resources(pca)
    (root,) = [r for r in resources if r.type == "aws:acmpca/certificateAuthority:CertificateAuthority"]
    assert ca_key_strength(root) == [] and root_key_protected(root) == []
    weak = type(root)(
        **{**root.__dict__, "props": {**root.props, "certificateAuthorityConfiguration": {"keyAlgorithm": "SM2"}}}
    )
    assert ca_key_strength(weak) == [
        "AWS Private CA mesh-private-root-ca uses key algorithm SM2; at least RSA_2048 or EC_prime256v1"
    ]
    unprotected = type(root)(**{**root.__dict__, "protect": False})
    assert root_key_protected(unprotected)
    role = next(r for r in resources if r.type == "aws:iam/role:Role")
    trust = json.loads(role.props["assumeRolePolicy"])
    trust["Statement"][0]["Condition"] = {}  # the provider alone: every pod of the cluster
    loose = type(role)(**{**role.__dict__, "props": {**role.props, "assumeRolePolicy": json.dumps(trust)}})
    assert len(web_identity_scoped(loose)) == 2


def test_the_reachability_walk_compares_the_ca_between_clusters(pca: SynthResult) -> None:
    assert all(p.ok for p in check_paths(pca))
    objects = extract_objects(pca)
    cert = next(o for o in objects["shop-euw1"].values() if o["kind"] == "Certificate")
    cert["metadata"]["annotations"]["meshbridge.io/root-ca-arn"] = EXISTING_ARN
    broken = [p for p in check_paths(pca, objects=objects) if not p.ok]
    assert broken and all("root-cert.pem differs" in p.reason for p in broken), broken


# ------------------------------------------------------------------------------ the Istio judge


@pytest.fixture(scope="module")
def pca_tree(tmp_path_factory: pytest.TempPathFactory, pca: SynthResult, judge: Path) -> Path:
    out = tmp_path_factory.mktemp("pca") / "tree"
    write_tree(pca, out)
    return out


def test_the_judge_renders_both_charts_and_judges_every_path(judge: Path, pca_tree: Path) -> None:
    proc = run_judge(judge, pca_tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "istio judge: 2 of 2 declared paths computed by pilot as declared, 0 problems" in proc.stdout
    rendered = pca_tree / "clusters" / "shop-euw1" / "helm" / "aws-privateca-issuer" / "rendered"
    names = {p.name for p in rendered.iterdir()}
    assert "customresourcedefinition.awspcaclusterissuers.awspca.cert-manager.io.yaml" in names
    sa = yaml.safe_load((rendered / "serviceaccount.cert-manager.aws-privateca-issuer.yaml").read_text())
    # the judge renders with a stand-in for the role's ARN (known after `up`)
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    deployment = yaml.safe_load((rendered / "deployment.cert-manager.aws-privateca-issuer.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "aws-privateca-issuer"
    # the release's appVersion, as its release workflow sets it
    assert pod["containers"][0]["image"].endswith("cert-manager-aws-privateca-issuer:v1.11.0")
    approver = yaml.safe_load(
        (rendered / "clusterrolebinding.cert-manager-controller-approve_awspca-cert-manager-io.yaml").read_text()
    )
    assert approver["subjects"] == [{"kind": "ServiceAccount", "name": "cert-manager", "namespace": "cert-manager"}]


def test_the_judge_fails_an_issuer_kind_the_chart_installs_no_crd_for(
    judge: Path, pca_tree: Path, tmp_path: Path
) -> None:
    out = judge_fault(
        judge,
        pca_tree,
        tmp_path,
        "orders-use1/awspcaclusterissuer.meshbridge-aws-pca.yaml",
        lambda o: o.update(kind="AWSPCAGlobalIssuer"),
    )
    assert (
        "orders-use1: helm release aws-privateca-issuer renders no CustomResourceDefinition "
        "for awspca.cert-manager.io AWSPCAGlobalIssuer" in out
    )


def test_the_judge_renders_the_pinned_issuer_version_only(judge: Path, pca_tree: Path, tmp_path: Path) -> None:
    out = judge_fault(
        judge, pca_tree, tmp_path, "shop-euw1/helm/aws-privateca-issuer.yaml", lambda r: r.update(version="v1.10.0")
    )
    assert (
        "shop-euw1: helm release aws-privateca-issuer: chart aws-privateca-issuer v1.10.0: "
        "the judge renders the pinned version v1.11.0 only" in out
    )
