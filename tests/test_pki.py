"""The CA hierarchy, judged with real cryptography.

The real program runs on the synth engine with `TlsFake` (tests/tls_fake.py), which makes real keys
and certificates from the tls resource inputs. The `cacerts` files are read back from the Secret
registrations, workload certificates are issued the way istiod issues them (signed with the
`ca-key.pem` of a cluster), and `openssl verify` decides what a peer in another cluster accepts.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pulumi.runtime import rpc

from synth.engine import SynthResult, redact, run_program, unwrap
from synth.render import write_tree
from tests.conftest import PROJECT, of_type, provider_cluster, run_variant, stack_config
from tests.tls_fake import TlsFake, load_private_key

SECRET = "kubernetes:core/v1:Secret"
NAMESPACE = "kubernetes:core/v1:Namespace"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
CERT_REQUEST = "tls:index/certRequest:CertRequest"
LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"
TLS_PROVIDER = "pulumi:providers:tls"
CACERTS_FILES = {"ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"}
ISTIOD_SAN = "istiod.istio-system.svc"
STACKS = ["staging", "production"]

# One state for the whole module: successive runs behave like successive `pulumi up`s of a stack
# (unchanged inputs keep their keys and certificates), and RSA 4096 keys are made once.
STATE: dict[Any, Any] = {}


# ----------------------------------------------------------------------------- helpers


class PkiRun:
    """A run of the real program with the tls fake, and what the pki part exposed."""

    def __init__(self, result: SynthResult, part: Any, config: dict[str, Any]):
        self.result = result
        self.part = part
        self.config = config  # the stack file's config mapping

    @property
    def ca(self) -> dict[str, Any]:
        return self.config.get("meshbridge:ca", {})

    @property
    def clusters(self) -> list[str]:
        return [c["name"] for c in self.config["meshbridge:clusters"]]

    def cacerts(self) -> dict[str, dict[str, str]]:
        """cluster -> the four files of its cacerts Secret (secrets unwrapped)."""
        out: dict[str, dict[str, str]] = {}
        for reg in of_type(self.result, SECRET):
            if reg.inputs["metadata"]["name"] == "cacerts":
                cluster = provider_cluster(self.result, reg)
                assert cluster is not None, f"{reg.name} is not on a cluster's kubernetes provider"
                out[cluster] = unwrap(reg.inputs["stringData"])
        return out


def _run(stack: str, mutate: Optional[Callable[[dict[str, Any]], None]], tmp: Path, fake: TlsFake) -> PkiRun:
    import stacks.mesh

    captured: dict[str, Any] = {}
    original = stacks.mesh.wire_pki

    def wire(cfg: Any, clusters: Any) -> Any:
        captured["pki"] = pki = original(cfg, clusters)
        return pki

    doc = stack_config(stack)
    if mutate is not None:
        mutate(doc["config"])
    mp = pytest.MonkeyPatch()
    mp.setattr(stacks.mesh, "wire_pki", wire)
    try:
        if mutate is None:
            result = run_program(stack, fakes=[fake])
        else:
            tmp.mkdir(parents=True, exist_ok=True)
            result = run_variant(tmp, mutate, stack=stack, fakes=[fake])
    finally:
        mp.undo()
    assert result.ok, result.errors
    return PkiRun(result, captured.get("pki"), doc["config"])


@pytest.fixture(scope="module", params=STACKS)
def pki_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> PkiRun:
    return _run(request.param, None, tmp_path_factory.mktemp(request.param), TlsFake(STATE))


@pytest.fixture(scope="module")
def staging_run(tmp_path_factory: pytest.TempPathFactory) -> PkiRun:
    return _run("staging", None, tmp_path_factory.mktemp("staging"), TlsFake(STATE))


def pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", text, re.S)


def cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def ext(c: x509.Certificate, cls: type) -> x509.Extension:
    return c.extensions.get_extension_for_class(cls)


def has_ext(c: x509.Certificate, cls: type) -> bool:
    try:
        c.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return False
    return True


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def openssl_verify(
    ca_file: Path, leaf: Path, untrusted: Optional[Path] = None, purpose: Optional[str] = None
) -> tuple[bool, str]:
    """`openssl verify` against `ca_file` only (no system trust store), strict X.509 checks."""
    cmd = ["openssl", "verify", "-x509_strict", "-no-CApath", "-no-CAstore", "-CAfile", str(ca_file)]
    if untrusted is not None:
        cmd += ["-untrusted", str(untrusted)]
    if purpose is not None:
        cmd += ["-purpose", purpose]
    proc = subprocess.run([*cmd, str(leaf)], capture_output=True, text=True, check=False)
    output = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0 and output.endswith(": OK"), output


def workload_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def issue(
    issuer_pem: str,
    issuer_key_pem: str,
    spiffe: Optional[str] = "spiffe://cluster.local/ns/default/sa/x",
    is_ca: bool = False,
    subject: Optional[x509.Name] = None,
) -> tuple[str, str]:
    """A certificate signed like istiod signs a workload (or, with is_ca, a rogue sub-CA)."""
    issuer = cert(issuer_pem)
    issuer_key = load_private_key(issuer_key_pem)
    key = workload_key()
    now = dt.datetime.now(dt.timezone.utc)
    name = subject if subject is not None else x509.Name([])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=24))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False)  # type: ignore[arg-type]
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        ).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    if spiffe:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe)]), critical=len(name) == 0
        )
    algorithm = hashes.SHA384() if isinstance(issuer_key, ec.EllipticCurvePrivateKey) else hashes.SHA256()
    signed = builder.sign(issuer_key, algorithm)  # type: ignore[arg-type]
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return signed.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def foreign_hierarchy(subject_like: x509.Name) -> tuple[str, str, str]:
    """Another root (same subject name as ours, other key), its intermediate and a leaf key pair."""
    root_key = ec.generate_private_key(ec.SECP384R1())
    now = dt.datetime.now(dt.timezone.utc)
    root = (
        x509.CertificateBuilder()
        .subject_name(subject_like)
        .issuer_name(subject_like)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA384())
    )
    root_pem = root.public_bytes(serialization.Encoding.PEM).decode()
    root_key_pem = root_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    inter_pem, inter_key_pem = issue(
        root_pem,
        root_key_pem,
        spiffe=None,
        is_ca=True,
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]),
    )
    leaf_pem, _ = issue(inter_pem, inter_key_pem)
    return root_pem, inter_pem, leaf_pem


def name_attrs(name: x509.Name) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for attr in name:
        out.setdefault(attr.oid._name, []).append(str(attr.value))
    return out


# ------------------------------------------------------------------- structure of the tree


def test_one_root_one_intermediate_and_one_cacerts_per_cluster(pki_run: PkiRun) -> None:
    result = pki_run.result
    clusters = pki_run.clusters
    assert len(of_type(result, "meshbridge:pki:RootCa")) == 1
    assert len(of_type(result, SELF_SIGNED)) == 1
    assert sorted(r.name for r in of_type(result, "meshbridge:pki:IntermediateCa")) == sorted(
        f"{c}-intermediate-ca" for c in clusters
    )
    assert len(of_type(result, LOCALLY_SIGNED)) == len(clusters)
    assert len(of_type(result, PRIVATE_KEY)) == 1 + len(clusters)
    cacerts = pki_run.cacerts()
    assert sorted(cacerts) == sorted(clusters)
    for files in cacerts.values():
        assert set(files) == CACERTS_FILES


def test_every_tls_resource_uses_the_one_explicit_tls_provider(pki_run: PkiRun) -> None:
    providers = of_type(pki_run.result, TLS_PROVIDER)
    assert [p.name for p in providers] == ["pki-tls"]
    for reg in pki_run.result.registrations:
        if reg.type.startswith("tls:"):
            assert reg.provider == providers[0].urn, f"{reg.name} is not on the pki-tls provider"


def test_cacerts_secret_is_in_istio_system_on_its_cluster_after_the_namespace(pki_run: PkiRun) -> None:
    result = pki_run.result
    namespaces = {provider_cluster(result, r): r.urn for r in of_type(result, NAMESPACE)}
    secrets = [r for r in of_type(result, SECRET) if r.inputs["metadata"]["name"] == "cacerts"]
    assert len(secrets) == len(pki_run.clusters)
    for reg in secrets:
        cluster = provider_cluster(result, reg)
        assert reg.name == f"{cluster}-cacerts"
        assert reg.inputs["metadata"]["namespace"] == "istio-system"
        assert reg.inputs["type"] == "Opaque"
        assert namespaces[cluster] in reg.dependencies, f"{reg.name} does not wait for istio-system"
    # the part exposes the Secrets for istiod's depends_on
    assert sorted(pki_run.part.cacerts) == sorted(pki_run.clusters)


# ------------------------------------------------------------------------- the chain


def test_intermediate_verifies_against_the_root_in_every_cluster(pki_run: PkiRun, tmp_path: Path) -> None:
    root_output = unwrap(pki_run.result.outputs["rootCertificatePem"])
    root_file = write(tmp_path, "stack-root.pem", root_output)
    for cluster, files in pki_run.cacerts().items():
        inter = write(tmp_path, f"{cluster}-ca-cert.pem", files["ca-cert.pem"])
        ok, out = openssl_verify(write(tmp_path, f"{cluster}-root.pem", files["root-cert.pem"]), inter)
        assert ok, out
        ok, out = openssl_verify(root_file, inter)
        assert ok, out
        # the public intermediate in the stack outputs is the one in the cluster
        assert unwrap(pki_run.result.outputs["clusters"][cluster]["intermediateCertificatePem"]) == files["ca-cert.pem"]


@pytest.mark.parametrize("purpose", ["sslclient", "sslserver"])
def test_workload_leaf_verifies_across_clusters(pki_run: PkiRun, tmp_path: Path, purpose: str) -> None:
    cacerts = pki_run.cacerts()
    trust_domain = pki_run.config["meshbridge:mesh"].get("trustDomain", "cluster.local")
    pairs = [(a, b) for a in cacerts for b in cacerts if a != b]
    assert pairs, "needs two clusters"
    for source, peer in pairs:
        leaf_pem, _ = issue(
            cacerts[source]["ca-cert.pem"],
            cacerts[source]["ca-key.pem"],
            spiffe=f"spiffe://{trust_domain}/ns/default/sa/x",
        )
        leaf = write(tmp_path, f"{source}-leaf.pem", leaf_pem)
        chain = write(tmp_path, f"{source}-chain.pem", cacerts[source]["cert-chain.pem"])
        peer_roots = write(tmp_path, f"{peer}-roots.pem", cacerts[peer]["root-cert.pem"])
        ok, out = openssl_verify(peer_roots, leaf, untrusted=chain, purpose=purpose)
        assert ok, f"{peer} rejects a workload of {source}: {out}"
        # without the intermediate the leaf is not trusted: the chain really goes through it
        ok, _ = openssl_verify(peer_roots, leaf)
        assert not ok


def test_leaf_from_a_foreign_root_is_rejected(pki_run: PkiRun, tmp_path: Path) -> None:
    cacerts = pki_run.cacerts()
    ours = cert(pem_blocks(next(iter(cacerts.values()))["root-cert.pem"])[0])
    # same subject name as our root, another key: only the signature tells them apart
    f_root, f_inter, f_leaf = foreign_hierarchy(ours.subject)
    leaf = write(tmp_path, "foreign-leaf.pem", f_leaf)
    chain = write(tmp_path, "foreign-chain.pem", f_inter + f_root)
    for cluster, files in cacerts.items():
        roots = write(tmp_path, f"{cluster}-roots.pem", files["root-cert.pem"])
        ok, out = openssl_verify(roots, leaf, untrusted=chain, purpose="sslclient")
        assert not ok, f"{cluster} accepted a workload of a foreign root: {out}"
        # and the foreign root does not accept ours
        our_leaf, _ = issue(files["ca-cert.pem"], files["ca-key.pem"])
        ok, _ = openssl_verify(
            write(tmp_path, "foreign-root.pem", f_root),
            write(tmp_path, f"{cluster}-leaf.pem", our_leaf),
            untrusted=write(tmp_path, f"{cluster}-chain.pem", files["cert-chain.pem"]),
        )
        assert not ok


def test_intermediate_cannot_mint_a_sub_ca(pki_run: PkiRun, tmp_path: Path) -> None:
    """A stolen intermediate key must not create a working CA below it (what pathlen:0 is for)."""
    for cluster, files in pki_run.cacerts().items():
        sub_pem, sub_key = issue(
            files["ca-cert.pem"],
            files["ca-key.pem"],
            spiffe=None,
            is_ca=True,
            subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue")]),
        )
        leaf_pem, _ = issue(sub_pem, sub_key)
        ok, out = openssl_verify(
            write(tmp_path, f"{cluster}-roots.pem", files["root-cert.pem"]),
            write(tmp_path, f"{cluster}-rogue-leaf.pem", leaf_pem),
            untrusted=write(tmp_path, f"{cluster}-rogue-chain.pem", sub_pem + files["cert-chain.pem"]),
        )
        assert not ok, f"{cluster}: a CA below the intermediate was accepted"
        assert "path length" in out, out


def test_key_in_each_cacerts_matches_its_certificate(pki_run: PkiRun) -> None:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    seen = set()
    for cluster, files in pki_run.cacerts().items():
        key = load_private_key(files["ca-key.pem"])
        public = key.public_key().public_bytes(serialization.Encoding.DER, spki)
        assert public == cert(files["ca-cert.pem"]).public_key().public_bytes(serialization.Encoding.DER, spki), cluster
        seen.add(public)
    assert len(seen) == len(pki_run.clusters), "clusters share an intermediate key"


def test_root_bundle_is_byte_identical_in_every_cluster_and_in_the_outputs(pki_run: PkiRun) -> None:
    bundles = {files["root-cert.pem"] for files in pki_run.cacerts().values()}
    assert len(bundles) == 1
    bundle = bundles.pop()
    assert bundle == unwrap(pki_run.result.outputs["rootCertificatePem"])
    roots = [cert(p) for p in pem_blocks(bundle)]
    assert len(roots) == 1
    assert roots[0].issuer == roots[0].subject


def test_cert_chain_is_intermediate_then_root(pki_run: PkiRun) -> None:
    for cluster, files in pki_run.cacerts().items():
        blocks = pem_blocks(files["cert-chain.pem"])
        assert files["cert-chain.pem"] == "".join(blocks), "cert-chain.pem holds something besides certificates"
        assert len(blocks) == 2, cluster
        assert blocks[0] == files["ca-cert.pem"]
        assert blocks[1] in pem_blocks(files["root-cert.pem"])
        inter, root = cert(blocks[0]), cert(blocks[1])
        assert inter.issuer == root.subject
        assert ext(inter, x509.AuthorityKeyIdentifier).value.key_identifier == _ski(root)


# ------------------------------------------------------ parity with istio tools/certs (docs/pki.md)

KEY_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def usages(c: x509.Certificate) -> set[str]:
    ku = ext(c, x509.KeyUsage).value
    return {flag for flag in KEY_USAGE_FLAGS if getattr(ku, flag)}


def _intermediate_checks(run: PkiRun, cluster: str, inter: x509.Certificate, root: x509.Certificate) -> dict[str, Any]:
    """Row of docs/pki.md -> (what we expect, what the certificate has)."""
    org = run.ca.get("organization", "Istio")
    bc = ext(inter, x509.BasicConstraints)
    requested_pathlen = next(
        unwrap(r.inputs).get("maxPathLength") for r in of_type(run.result, LOCALLY_SIGNED) if r.name.startswith(cluster)
    )
    return {
        "basicConstraints": (
            (True, True, 0, 1),
            (bc.critical, bc.value.ca, requested_pathlen, ext(root, x509.BasicConstraints).value.path_length),
        ),
        "keyUsage": (
            (True, {"digital_signature", "key_encipherment", "key_cert_sign"}),
            (ext(inter, x509.KeyUsage).critical, usages(inter)),
        ),
        "extendedKeyUsage": (False, has_ext(inter, x509.ExtendedKeyUsage)),
        "subjectAltName": (
            [ISTIOD_SAN],
            ext(inter, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName),
        ),
        "subject": (
            {"organizationName": [org], "commonName": ["Intermediate CA"], "localityName": [cluster]},
            name_attrs(inter.subject),
        ),
        "subjectKeyIdentifier": (
            x509.SubjectKeyIdentifier.from_public_key(inter.public_key()).digest,  # type: ignore[arg-type]
            ext(inter, x509.SubjectKeyIdentifier).value.digest,
        ),
        "authorityKeyIdentifier": (
            ext(root, x509.SubjectKeyIdentifier).value.digest,
            ext(inter, x509.AuthorityKeyIdentifier).value.key_identifier,
        ),
        "issuer": (root.subject, inter.issuer),
        "validity": (
            dt.timedelta(hours=run.ca.get("intermediateValidityHours", 17520)),
            inter.not_valid_after_utc - inter.not_valid_before_utc,
        ),
    }


def _key_checks(run: PkiRun, c: x509.Certificate) -> tuple[Any, Any]:
    public = c.public_key()
    hash_name = c.signature_hash_algorithm.name if c.signature_hash_algorithm else "none"
    if run.ca.get("keyAlgorithm", "RSA") == "RSA":
        kind = "RSA" if isinstance(public, rsa.RSAPublicKey) else "?"
        got_size = public.key_size if isinstance(public, rsa.RSAPublicKey) else 0
        return (("RSA", run.ca.get("rsaBits", 4096), "sha256"), (kind, got_size, hash_name))
    curve = {"P256": ("secp256r1", "sha256"), "P384": ("secp384r1", "sha384")}[run.ca.get("ecdsaCurve", "P256")]
    got = public.curve.name if isinstance(public, ec.EllipticCurvePublicKey) else "?"
    return (("ECDSA", *curve), ("ECDSA", got, hash_name))


def test_intermediate_extensions_match_the_istio_makefile(pki_run: PkiRun) -> None:
    for cluster, files in pki_run.cacerts().items():
        inter = cert(files["ca-cert.pem"])
        root = cert(pem_blocks(files["cert-chain.pem"])[1])
        rows = _intermediate_checks(pki_run, cluster, inter, root)
        rows["key"] = _key_checks(pki_run, inter)
        for row, (expected, actual) in rows.items():
            assert actual == expected, f"{cluster}: {row}: expected {expected!r}, got {actual!r}"


def test_root_extensions(pki_run: PkiRun) -> None:
    bundle = next(iter(pki_run.cacerts().values()))["root-cert.pem"]
    root = cert(pem_blocks(bundle)[0])
    org = pki_run.ca.get("organization", "Istio")
    bc = ext(root, x509.BasicConstraints)
    assert (bc.critical, bc.value.ca, bc.value.path_length) == (True, True, 1)
    assert ext(root, x509.KeyUsage).critical and usages(root) == {"key_cert_sign", "crl_sign"}
    assert not has_ext(root, x509.ExtendedKeyUsage)
    assert name_attrs(root.subject) == {
        "organizationName": [org],
        "organizationalUnitName": ["root"],
        "commonName": ["Root CA"],
    }
    assert _ski(root) == x509.SubjectKeyIdentifier.from_public_key(root.public_key()).digest  # type: ignore[arg-type]
    lifetime = root.not_valid_after_utc - root.not_valid_before_utc
    assert lifetime == dt.timedelta(hours=pki_run.ca.get("rootValidityHours", 87600))
    assert _key_checks(pki_run, root)[0] == _key_checks(pki_run, root)[1]


def test_docs_table_lists_every_checked_row() -> None:
    text = (PROJECT / "docs" / "pki.md").read_text()
    rows = {m.group(1) for m in re.finditer(r"^\| `?([A-Za-z]+)`? \|", text, re.M)}
    expected = {
        "basicConstraints",
        "keyUsage",
        "extendedKeyUsage",
        "subjectAltName",
        "subject",
        "subjectKeyIdentifier",
        "authorityKeyIdentifier",
        "issuer",
        "validity",
        "key",
    }
    assert expected <= rows, f"docs/pki.md misses rows: {sorted(expected - rows)}"


def test_intermediate_renews_early_and_keys_follow_the_config(pki_run: PkiRun) -> None:
    ca = pki_run.ca
    for reg in of_type(pki_run.result, LOCALLY_SIGNED):
        inputs = unwrap(reg.inputs)
        assert inputs["earlyRenewalHours"] == ca.get("earlyRenewalHours", 720)
        assert inputs["validityPeriodHours"] == ca.get("intermediateValidityHours", 17520)
        assert inputs["isCaCertificate"] is True
    for reg in of_type(pki_run.result, PRIVATE_KEY):
        inputs = unwrap(reg.inputs)
        assert inputs["algorithm"] == ca.get("keyAlgorithm", "RSA")
        if inputs["algorithm"] == "RSA":
            assert inputs["rsaBits"] == ca.get("rsaBits", 4096)
        else:
            assert inputs["ecdsaCurve"] == ca.get("ecdsaCurve", "P256")


# -------------------------------------------------------------------------------- secrets


def test_no_private_key_in_synth_output_or_stack_outputs(staging_run: PkiRun, tmp_path: Path) -> None:
    result = staging_run.result
    # the run does hold real key material (so the scan below can fail)
    assert "PRIVATE KEY" in json.dumps([unwrap(r.inputs) for r in result.registrations])
    out = tmp_path / "synth"
    write_tree(result, out)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name.startswith("secret.istio-system.cacerts") for p in files)
    leaks = [str(p.relative_to(out)) for p in files if "PRIVATE KEY" in p.read_text()]
    assert leaks == []
    assert "PRIVATE KEY" not in json.dumps(redact(result.outputs))
    # not even as a secret: the outputs carry certificates only
    assert "PRIVATE KEY" not in json.dumps(unwrap(result.outputs))
    assert "BEGIN CERTIFICATE" in json.dumps(redact(result.outputs)), "public certificates are exported in clear"


def test_private_keys_are_secrets_in_the_registrations(staging_run: PkiRun) -> None:
    result = staging_run.result
    for reg in of_type(result, SECRET):
        if reg.inputs["metadata"]["name"] == "cacerts":
            assert rpc.is_rpc_secret(reg.inputs["stringData"]), f"{reg.name}: ca-key.pem is not a secret"
    for reg in of_type(result, PRIVATE_KEY):
        assert rpc.is_rpc_secret(reg.state["privateKeyPem"])
        assert {"privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"} <= set(reg.additional_secret_outputs)
    key_inputs = ((SELF_SIGNED, "privateKeyPem"), (CERT_REQUEST, "privateKeyPem"), (LOCALLY_SIGNED, "caPrivateKeyPem"))
    for typ, prop in key_inputs:
        regs = of_type(result, typ)
        assert regs
        for reg in regs:
            assert rpc.is_rpc_secret(reg.inputs[prop]), f"{reg.name}.{prop} is not a secret"
            assert "PRIVATE KEY" in unwrap(reg.inputs[prop])
    for typ in (SELF_SIGNED, LOCALLY_SIGNED):
        for reg in of_type(result, typ):
            assert not rpc.is_rpc_secret(reg.state["certPem"]), "certificates are public"


def _protected(result: SynthResult) -> dict[str, bool]:
    return {r.name: r.protect for r in result.registrations if r.type in (PRIVATE_KEY, SELF_SIGNED, LOCALLY_SIGNED)}


@pytest.mark.parametrize("stack", STACKS)
def test_protect_root_protects_root_key_and_certificate(stack: str, request: pytest.FixtureRequest) -> None:
    result: SynthResult = request.getfixturevalue(stack)
    assert stack_config(stack)["config"]["meshbridge:ca"].get("protectRoot", True) is True
    protected = _protected(result)
    assert protected["mesh-ca-root-key"] and protected["mesh-ca-root-cert"]
    others = [name for name, on in protected.items() if on and not name.startswith("mesh-ca-")]
    assert others == [], "intermediates must stay renewable (early renewal replaces them)"


def test_protect_root_false_protects_nothing(tmp_path: Path) -> None:
    result = run_variant(tmp_path, _set_ca(protectRoot=False))
    assert result.ok, result.errors
    protected = _protected(result)
    assert "mesh-ca-root-key" in protected
    assert not any(protected.values())


# ------------------------------------------------------------------------------- rotation


def _roots(names: list[str], active: Optional[str]) -> Callable[[dict[str, Any]], None]:
    def mutate(config: dict[str, Any]) -> None:
        ca = config.setdefault("meshbridge:ca", {})
        ca["roots"] = [{"name": n} for n in names]
        if active is None:
            ca.pop("activeRoot", None)
        else:
            ca["activeRoot"] = active

    return mutate


@pytest.fixture(scope="module")
def rotation(staging_run: PkiRun, tmp_path_factory: pytest.TempPathFactory) -> dict[int, PkiRun]:
    """The three `pulumi up`s of docs/runbook.md on one stack state, after the initial one."""
    steps = {0: staging_run}
    for step, mutate in (
        (1, _roots(["root", "root-2"], "root")),
        (2, _roots(["root", "root-2"], "root-2")),
        (3, _roots(["root-2"], "root-2")),
    ):
        steps[step] = _run("staging", mutate, tmp_path_factory.mktemp(f"rotation-{step}"), TlsFake(STATE))
    return steps


def _root_named(run: PkiRun, name: str) -> x509.Certificate:
    for reg in of_type(run.result, SELF_SIGNED):
        if reg.name == f"mesh-ca-{name}-cert":
            return cert(reg.state["certPem"])
    raise AssertionError(f"no root {name}")


def _issuer_root(files: dict[str, str]) -> bytes:
    return ext(cert(files["ca-cert.pem"]), x509.AuthorityKeyIdentifier).value.key_identifier


def _ski(c: x509.Certificate) -> bytes:
    return ext(c, x509.SubjectKeyIdentifier).value.digest


def test_rotation_step_1_adds_the_new_root_everywhere_without_reissuing(rotation: dict[int, PkiRun]) -> None:
    before, step = rotation[0].cacerts(), rotation[1].cacerts()
    old, new = _root_named(rotation[1], "root"), _root_named(rotation[1], "root-2")
    assert _ski(old) != _ski(new)
    for cluster, files in step.items():
        bundle = [cert(p) for p in pem_blocks(files["root-cert.pem"])]
        assert [_ski(c) for c in bundle] == [_ski(old), _ski(new)], "bundle is old then new, in config order"
        # intermediates untouched in step 1: the new root must reach every cluster first
        assert files["ca-cert.pem"] == before[cluster]["ca-cert.pem"]
        assert files["ca-key.pem"] == before[cluster]["ca-key.pem"]
        assert _issuer_root(files) == _ski(old)
    assert rotation[1].part.multi_root is True
    assert rotation[0].part.multi_root is False


def test_rotation_step_2_reissues_intermediates_from_the_new_root(rotation: dict[int, PkiRun]) -> None:
    step1, step2 = rotation[1].cacerts(), rotation[2].cacerts()
    new = _root_named(rotation[2], "root-2")
    for cluster, files in step2.items():
        assert files["root-cert.pem"] == step1[cluster]["root-cert.pem"], "the bundle does not change in step 2"
        assert _issuer_root(files) == _ski(new)
        assert files["ca-cert.pem"] != step1[cluster]["ca-cert.pem"]
        assert pem_blocks(files["cert-chain.pem"])[1] == new.public_bytes(serialization.Encoding.PEM).decode()
        # the intermediate key stays; only the certificate is re-issued
        assert files["ca-key.pem"] == step1[cluster]["ca-key.pem"]
    assert rotation[2].part.multi_root is True


def _leaves(run: PkiRun, tmp: Path, tag: str) -> dict[str, tuple[Path, Path]]:
    out = {}
    for cluster, files in run.cacerts().items():
        leaf, _ = issue(files["ca-cert.pem"], files["ca-key.pem"])
        out[cluster] = (
            write(tmp, f"{tag}-{cluster}-leaf.pem", leaf),
            write(tmp, f"{tag}-{cluster}-chain.pem", files["cert-chain.pem"]),
        )
    return out


def test_rotation_leaves_from_old_and_new_intermediates_verify_against_the_bundle(
    rotation: dict[int, PkiRun], tmp_path: Path
) -> None:
    leaves = {step: _leaves(rotation[step], tmp_path, f"step{step}") for step in (0, 1, 2)}
    for step in (1, 2):
        for peer, files in rotation[step].cacerts().items():
            roots = write(tmp_path, f"step{step}-{peer}-roots.pem", files["root-cert.pem"])
            for issued_in in (0, 1, 2):  # old intermediates (steps 0, 1) and new ones (step 2)
                for source, (leaf, chain) in leaves[issued_in].items():
                    if source == peer:
                        continue
                    ok, out = openssl_verify(roots, leaf, untrusted=chain, purpose="sslclient")
                    assert ok, f"step {step}: {peer} rejects a leaf of {source} from step {issued_in}: {out}"


def test_rotation_new_leaves_need_step_1(rotation: dict[int, PkiRun], tmp_path: Path) -> None:
    """Why step 1 exists: a cluster still on the old bundle rejects leaves of the new root."""
    new_leaves = _leaves(rotation[2], tmp_path, "new")
    for peer, files in rotation[0].cacerts().items():
        roots = write(tmp_path, f"old-{peer}-roots.pem", files["root-cert.pem"])
        for source, (leaf, chain) in new_leaves.items():
            if source != peer:
                ok, _ = openssl_verify(roots, leaf, untrusted=chain)
                assert not ok


def test_rotation_step_3_drops_the_old_root(rotation: dict[int, PkiRun], tmp_path: Path) -> None:
    step2, step3 = rotation[2].cacerts(), rotation[3].cacerts()
    new = _root_named(rotation[3], "root-2")
    assert [r.name for r in of_type(rotation[3].result, SELF_SIGNED)] == ["mesh-ca-root-2-cert"]
    assert rotation[3].part.multi_root is False
    old_leaves = _leaves(rotation[1], tmp_path, "old")
    new_leaves = _leaves(rotation[3], tmp_path, "new")
    for cluster, files in step3.items():
        assert [_ski(cert(p)) for p in pem_blocks(files["root-cert.pem"])] == [_ski(new)]
        assert files["ca-cert.pem"] == step2[cluster]["ca-cert.pem"], "dropping the old root re-issues nothing"
        roots = write(tmp_path, f"step3-{cluster}-roots.pem", files["root-cert.pem"])
        for source in step3:
            if source == cluster:
                continue
            ok, out = openssl_verify(roots, *new_leaves[source][:1], untrusted=new_leaves[source][1])
            assert ok, out
            ok, _ = openssl_verify(roots, old_leaves[source][0], untrusted=old_leaves[source][1])
            assert not ok, "the old root is no longer trusted after step 3"


def test_multi_root_reaches_istiod(rotation: dict[int, PkiRun]) -> None:
    """ISTIO_MULTIROOT_MESH is on exactly while more than one root is listed (istiod values)."""

    def flagged(run: PkiRun) -> dict[str, bool]:
        charts = [
            r
            for r in run.result.registrations
            if r.type == "meshbridge:helm:Chart" and unwrap(r.inputs).get("chart") == "istiod"
        ]
        return {r.name: "ISTIO_MULTIROOT_MESH" in json.dumps(unwrap(r.inputs).get("values", {})) for r in charts}

    if not flagged(rotation[0]):
        pytest.skip("the istio part installs no istiod chart yet")
    for step, expected in ((0, False), (1, True), (2, True), (3, False)):
        values = flagged(rotation[step])
        assert len(values) == len(rotation[step].clusters)
        assert all(v is expected for v in values.values()), f"step {step}: {values}"


# ------------------------------------------------------------------------------ bad inputs


def _set_ca(**values: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(config: dict[str, Any]) -> None:
        config.setdefault("meshbridge:ca", {}).update(values)

    return mutate


BAD_INPUTS = {
    "unknown-active-root": (_set_ca(roots=[{"name": "root"}], activeRoot="root-9"), "meshbridge:ca.activeRoot:"),
    "duplicate-root-names": (
        _set_ca(roots=[{"name": "root"}, {"name": "root"}], activeRoot="root"),
        "meshbridge:ca.roots[1].name:",
    ),
    "rsa-1024": (_set_ca(keyAlgorithm="RSA", rsaBits=1024), "meshbridge:ca.rsaBits:"),
    "curve-p521": (_set_ca(keyAlgorithm="ECDSA", ecdsaCurve="P521"), "meshbridge:ca.ecdsaCurve:"),
    "intermediate-outlives-root": (
        _set_ca(rootValidityHours=8760, intermediateValidityHours=17520),
        "meshbridge:ca.intermediateValidityHours:",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_ca_inputs_fail_with_the_key_path_before_registering(case: str, tmp_path: Path) -> None:
    mutate, prefix = BAD_INPUTS[case]
    result = run_variant(tmp_path, mutate, fakes=[TlsFake({})])
    assert any(line.startswith(prefix) for line in result.errors), result.errors
    assert result.registrations == []


def test_bad_ca_input_exits_2_in_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from synth.__main__ import main

    doc = stack_config("staging")
    _set_ca(activeRoot="nope")(doc["config"])
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert main(["--stack", "staging", "--config-file", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "meshbridge:ca.activeRoot: 'nope' is not one of ca.roots" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
