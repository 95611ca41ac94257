"""The cert-manager CA backend (`meshbridge:ca.backend: cert-manager`, docs/pki.md "The cert-manager
backend"): what the configuration refuses (key paths, exit 2), what each cluster gets (cert-manager's
chart, the Certificate writing `cacerts`, the CA Issuer), that no CA key is anywhere in Pulumi's view,
the objects against cert-manager's own CRDs, and the Istio judge rendering cert-manager's chart from
its pinned module (with faults in a copy of the tree)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policy.rules import ca_key_strength
from synth.check import check_paths, extract_objects
from synth.engine import SynthResult, run_program, unwrap
from synth.render import helm_releases, write_tree
from tests.conftest import (
    cluster_objects,
    config_problems,
    judge_fault,
    run_judge,
    run_variant,
    stack_config,
    synth_refusal,
)
from tests.test_policy import as_policy_resources
from tests.validators import validate_object

STACK = "certmanager"
CA = "meshbridge:ca"
CLUSTERS = ("orders-use1", "shop-euw1")
CERT = "orders-use1/certificate.istio-system.cacerts.yaml"
ROOT_PEM: str = stack_config(STACK)["config"][CA]["certManager"]["rootCertificatePem"]


@pytest.fixture(scope="module")
def certmanager() -> SynthResult:
    result = run_program(STACK)
    assert result.ok, result.errors
    return result


def _kind(result: SynthResult, cluster: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in cluster_objects(result, cluster) if o["kind"] == kind]


# ---------------------------------------------------------------------------------- refusals


def _cm(doc: dict[str, Any]) -> dict[str, Any]:
    cm: dict[str, Any] = doc[CA]["certManager"]
    return cm


def _self_signed_leaf() -> str:
    """A certificate that is no CA (basicConstraints CA:FALSE), made here with openssl."""
    return subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "/dev/null",
            "-subj",
            "/CN=server",
            "-days",
            "1",
            "-addext",
            "basicConstraints=CA:FALSE",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


REFUSED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no-settings", lambda d: _cm(d).clear() or d[CA].pop("certManager"), f"{CA}.certManager: required"),
    ("settings-without-backend", lambda d: d[CA].pop("backend"), f"{CA}.certManager: only with {CA}.backend"),
    ("roots", lambda d: d[CA].update(roots=[{"name": "r1"}]), f"{CA}.roots: only with {CA}.backend pulumi-tls"),
    ("active-root", lambda d: d[CA].update(activeRoot="root"), f"{CA}.activeRoot: only with"),
    ("protect-root", lambda d: d[CA].update(protectRoot=True), f"{CA}.protectRoot: only with"),
    ("root-validity", lambda d: d[CA].update(rootValidityHours=1000), f"{CA}.rootValidityHours: only with"),
    (
        "both-issuers",
        lambda d: _cm(d)["issuer"].update(name="vault", kind="ClusterIssuer"),
        f"{CA}.certManager.issuer: give either caSecretName",
    ),
    ("no-issuer", lambda d: _cm(d)["issuer"].clear(), f"{CA}.certManager.issuer: give either caSecretName"),
    (
        "ref-without-kind",
        lambda d: _cm(d).update(issuer={"name": "vault"}),
        f"{CA}.certManager.issuer.kind: required with",
    ),
    (
        "kind-with-secret",
        lambda d: _cm(d)["issuer"].update(kind="ClusterIssuer"),
        f"{CA}.certManager.issuer: kind and group only with name",
    ),
    (
        "secret-name",
        lambda d: _cm(d)["issuer"].update(caSecretName="Mesh Root"),
        f"{CA}.certManager.issuer.caSecretName",
    ),
    (
        "not-pem",
        lambda d: _cm(d).update(rootCertificatePem="root"),
        f"{CA}.certManager.rootCertificatePem: is not a PEM",
    ),
    (
        "private-key",
        lambda d: _cm(d).update(
            rootCertificatePem=ROOT_PEM + "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"
        ),
        f"{CA}.certManager.rootCertificatePem: holds a private key",
    ),
    (
        "not-a-ca",
        lambda d: _cm(d).update(rootCertificatePem=_self_signed_leaf()),
        f"{CA}.certManager.rootCertificatePem: certificate 1 (CN=server) is not a CA certificate",
    ),
    ("version", lambda d: _cm(d)["install"].update(version="1.19.1"), f"{CA}.certManager.install.version"),
    ("unknown-key", lambda d: _cm(d).update(rootKeyPem="x"), f"{CA}.certManager.rootKeyPem"),
    ("aws-pca-settings", lambda d: d[CA].update(awsPca={}), f"{CA}.awsPca: only with {CA}.backend aws-pca"),
    (
        "aws-pca",
        lambda d: d[CA].update(backend="aws-pca"),
        f"{CA}.certManager: only with {CA}.backend cert-manager (the backend is aws-pca)",
    ),
    (
        "namespace-istio",
        lambda d: _cm(d)["install"].update(namespace="istio-system"),
        f"{CA}.certManager.install.namespace: 'istio-system' is a namespace meshbridge creates",
    ),
    (
        "namespace-app",
        lambda d: _cm(d)["install"].update(namespace="orders"),
        f"{CA}.certManager.install.namespace: 'orders' is an application namespace",
    ),
]


@pytest.mark.parametrize(("mutate", "path"), [(m, p) for _, m, p in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_a_cert_manager_mistake_is_refused_with_its_key_path(
    mutate: Callable[[dict[str, Any]], None], path: str
) -> None:
    problems = config_problems(STACK, mutate)
    assert any(line.startswith(path) for line in problems), problems


def test_the_worked_example_is_accepted() -> None:
    assert config_problems(STACK, lambda d: None) == []


def test_a_refusal_stops_synth_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    stderr = synth_refusal(tmp_path, STACK, lambda d: d[CA].update(roots=[{"name": "root"}]))
    assert f"{CA}.roots: only with {CA}.backend pulumi-tls" in stderr


# ---------------------------------------------------------------------------- what is rendered


def test_each_cluster_gets_cert_manager_a_ca_issuer_and_the_certificate_writing_cacerts(
    certmanager: SynthResult,
) -> None:
    releases = helm_releases(certmanager)
    for cluster in CLUSTERS:
        chart = releases[cluster]["cert-manager.yaml"]
        assert (chart["chart"], chart["version"], chart["namespace"]) == ("cert-manager", "v1.19.1", "cert-manager")
        assert chart["values"] == {"crds": {"enabled": True, "keep": True}, "startupapicheck": {"enabled": False}}
        # rendered for a version the chart accepts even when the cluster cannot be reached
        assert chart["kubeVersion"] == "1.22.0"
        (issuer,) = _kind(certmanager, cluster, "Issuer")
        assert issuer["metadata"]["namespace"] == "istio-system"
        assert issuer["spec"] == {"ca": {"secretName": "mesh-root-ca"}}
        (cert,) = _kind(certmanager, cluster, "Certificate")
        spec = cert["spec"]
        assert cert["metadata"]["namespace"] == "istio-system" and spec["secretName"] == "cacerts"
        assert spec["issuerRef"] == {"name": issuer["metadata"]["name"], "kind": "Issuer", "group": "cert-manager.io"}
        # shaped like the pulumi-tls intermediate (docs/pki.md): a CA, no extended key usage
        assert spec["isCA"] is True and spec["usages"] == ["cert sign", "digital signature", "key encipherment"]
        assert spec["subject"] == {"organizations": ["Acme Mesh"], "localities": [cluster]}
        assert (spec["commonName"], spec["dnsNames"]) == ("Intermediate CA", ["istiod.istio-system.svc"])
        assert (spec["duration"], spec["renewBefore"]) == ("8760h", "720h")
        assert spec["privateKey"] == {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"}
        # Pulumi waits for cert-manager to issue it before istiod starts
        assert cert["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
        assert not [o for o in cluster_objects(certmanager, cluster) if o["kind"] == "Secret"]


def test_istiod_waits_for_the_issued_certificate_and_the_certificate_for_cert_manager(certmanager: SynthResult) -> None:
    by_name = {r.name: r for r in certmanager.registrations}
    for cluster in CLUSTERS:
        cert = next(
            r for r in certmanager.registrations if r.type.endswith(":Certificate") and r.name == f"{cluster}-cacerts"
        )
        istiod = by_name[f"{cluster}-istiod"]
        assert cert.urn in istiod.dependencies
        issuer = by_name[f"{cluster}-cacerts-issuer"]
        assert issuer.urn in cert.dependencies
        # the chart's objects (its CRDs and webhook) before the issuer and the certificate
        chart = next(
            r
            for r in certmanager.registrations
            if r.type == "meshbridge:helm:Chart" and r.name == f"{cluster}-cert-manager"
        )
        assert chart.urn in cert.dependencies and chart.urn in issuer.dependencies


def test_no_ca_key_is_in_pulumi_state_and_the_root_is_the_given_one(certmanager: SynthResult, tmp_path: Path) -> None:
    assert not [r for r in certmanager.registrations if r.type.startswith("tls:")]
    out = tmp_path / "tree"
    write_tree(certmanager, out)
    for f in out.rglob("*"):
        if f.is_file():
            assert "PRIVATE KEY" not in f.read_text(errors="replace"), f
    outputs = unwrap(certmanager.outputs)
    assert outputs["rootCertificatePem"] == ROOT_PEM
    assert outputs["caBackend"] == "cert-manager"
    for cluster in CLUSTERS:
        assert "intermediateCertificatePem" not in outputs["clusters"][cluster]


def test_an_existing_issuer_is_named_and_cert_manager_left_alone_when_installed(tmp_path: Path) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        _cm(doc)["issuer"] = {"name": "vault-mesh", "kind": "ClusterIssuer"}
        _cm(doc)["install"] = {"enabled": False}
        doc[CA].update(keyAlgorithm="RSA", rsaBits=3072)

    result = run_variant(tmp_path, mutate, STACK)
    assert result.ok, result.errors
    assert "orders-use1" not in {c for c, r in helm_releases(result).items() if "cert-manager.yaml" in r}
    (cert,) = _kind(result, "orders-use1", "Certificate")
    assert cert["spec"]["issuerRef"] == {"name": "vault-mesh", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert cert["spec"]["privateKey"] == {"algorithm": "RSA", "size": 3072, "rotationPolicy": "Always"}
    assert _kind(result, "orders-use1", "Issuer") == [] and _kind(result, "orders-use1", "Namespace") != []


def test_the_objects_are_valid_against_cert_managers_crds(certmanager: SynthResult) -> None:
    for cluster in CLUSTERS:
        for obj in cluster_objects(certmanager, cluster):
            assert validate_object(obj) == [], obj
    (cert,) = _kind(certmanager, "orders-use1", "Certificate")
    bad = {**cert, "spec": {**cert["spec"], "privateKey": {"algorithm": "ED448"}, "isCA": "yes"}}
    problems = validate_object(bad)
    assert problems and "Certificate istio-system/cacerts" in problems[0], problems


def test_the_policy_pack_checks_the_key_cert_manager_makes(certmanager: SynthResult) -> None:
    certs = [r for r in as_policy_resources(certmanager) if r.kind == "Certificate"]
    assert len(certs) == 2 and all(ca_key_strength(r) == [] for r in certs)
    weak = certs[0]
    weak.props["spec"] = {**weak.props["spec"], "privateKey": {"algorithm": "RSA", "size": 1024}}
    assert ca_key_strength(weak) == [f"Certificate {weak.name} asks for 1024 RSA bits; at least 2048"]


def test_the_reachability_walk_follows_the_certificate_to_the_root(certmanager: SynthResult) -> None:
    assert all(p.ok for p in check_paths(certmanager))
    objects = extract_objects(certmanager)
    cert = next(o for o in objects["shop-euw1"].values() if o["kind"] == "Certificate")
    cert["metadata"]["annotations"]["meshbridge.io/root-sha256"] = "00" * 32
    broken = [p for p in check_paths(certmanager, objects=objects) if not p.ok]
    assert broken and all("root-cert.pem differs" in p.reason for p in broken), broken
    cert["spec"]["isCA"] = False
    broken = [p for p in check_paths(certmanager, objects=objects) if not p.ok]
    assert broken and "is not isCA" in broken[0].reason


# ------------------------------------------------------------------------------ the Istio judge


@pytest.fixture(scope="module")
def certmanager_tree(tmp_path_factory: pytest.TempPathFactory, certmanager: SynthResult, judge: Path) -> Path:
    out = tmp_path_factory.mktemp("certmanager") / "tree"
    write_tree(certmanager, out)
    return out


def test_the_judge_renders_cert_managers_chart_and_judges_every_path(judge: Path, certmanager_tree: Path) -> None:
    proc = run_judge(judge, certmanager_tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "istio judge: 2 of 2 declared paths computed by pilot as declared, 0 problems" in proc.stdout
    rendered = certmanager_tree / "clusters" / "orders-use1" / "helm" / "cert-manager" / "rendered"
    names = {p.name for p in rendered.iterdir()}
    assert "customresourcedefinition.certificates.cert-manager.io.yaml" in names
    assert "deployment.cert-manager.cert-manager-webhook.yaml" in names
    # no startupapicheck hook Job (Pulumi waits for the webhook's Deployment)
    assert not [n for n in names if n.startswith("job.")]


def test_the_judge_fails_a_chart_without_cert_managers_crds(
    judge: Path, certmanager_tree: Path, tmp_path: Path
) -> None:
    out = judge_fault(
        judge, certmanager_tree, tmp_path, "orders-use1/helm/cert-manager.yaml", lambda r: r["values"].pop("crds")
    )
    assert (
        "orders-use1: helm release cert-manager renders no CustomResourceDefinition for cert-manager.io Certificate"
        in out
    )


def test_the_judge_renders_the_pinned_version_only(judge: Path, certmanager_tree: Path, tmp_path: Path) -> None:
    out = judge_fault(
        judge, certmanager_tree, tmp_path, "shop-euw1/helm/cert-manager.yaml", lambda r: r.update(version="v1.18.0")
    )
    assert (
        "shop-euw1: helm release cert-manager: chart cert-manager v1.18.0: "
        "the judge renders the pinned version v1.19.1 only" in out
    )


def test_the_judge_fails_values_cert_managers_schema_refuses(
    judge: Path, certmanager_tree: Path, tmp_path: Path
) -> None:
    out = judge_fault(
        judge,
        certmanager_tree,
        tmp_path,
        "orders-use1/helm/cert-manager.yaml",
        lambda r: r["values"].update(replicaCount="two"),
    )
    assert "orders-use1: helm release cert-manager: chart cert-manager v1.19.1 does not render with these values" in out
