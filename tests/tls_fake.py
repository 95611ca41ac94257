"""A fake of the pulumi-tls provider that makes REAL keys and certificates from the resource inputs.

Plug it into the synth engine: `run_program("staging", fakes=[TlsFake()])`. It answers
`tls:index/privateKey:PrivateKey`, `selfSignedCert`, `certRequest` and `locallySignedCert` the way
terraform-provider-tls (the engine under pulumi-tls) does, using the `cryptography` package:

- PrivateKey: RSA (`rsaBits`, default 2048), ECDSA (`ecdsaCurve` P224/P256/P384/P521, default
  P224), ED25519; `privateKeyPem` is PKCS#1 for RSA, SEC1 for ECDSA, PKCS#8 for ED25519; the
  private key outputs come back as secrets (the provider marks them secret).
- Certificates (`createCertificate` in the provider): serial random 128 bit, NotBefore = now,
  NotAfter = now + validityPeriodHours; `allowedUses` split into key usage (critical) and extended
  key usage; basicConstraints always present and critical (CA:FALSE unless `isCaCertificate`);
  subject key identifier for CA certificates or with `setSubjectKeyId`; authority key identifier
  from the issuer's subject key identifier (self-signed: only with `setAuthorityKeyId`).
- `maxPathLength` follows the provider's Go code: `template.MaxPathLen = max_path_length` without
  `MaxPathLenZero`, and Go's crypto/x509 encodes MaxPathLen 0 without MaxPathLenZero as "no limit".
  So max_path_length 0 yields `CA:TRUE` with NO pathlen; values >= 1 are encoded. Set
  `TlsFake(honour_path_len_zero=True)` to model a provider that encodes pathlen:0.
- LocallySignedCert: copies subject, DNS names, IP addresses and URIs from the CSR (nothing else,
  like the provider), verifies the CSR signature (stricter than the provider) and that the CA key
  belongs to the CA certificate, and signs with the CA key.
- CertRequest: a CSR with the subject and the subject alternative names, signed by the key.

State: pass one `state` dict to the fakes of successive runs and they behave like successive
`pulumi up`s of one stack: a resource whose inputs did not change keeps its value (same key, same
certificate bytes), a changed input gives a new one (the provider replaces it). Keys are looked up
by (name, algorithm, size) so that a key survives when only its consumers change. Without a shared
`state` every run starts from an empty stack. RSA 4096 keys take a while; share the state.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import secrets
from typing import Any, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pulumi.runtime import rpc

from synth.engine import unwrap

PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
CERT_REQUEST = "tls:index/certRequest:CertRequest"
LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"

CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P224": ec.SECP224R1,
    "P256": ec.SECP256R1,
    "P384": ec.SECP384R1,
    "P521": ec.SECP521R1,
}
KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "cert_signing",
    "crl_signing",
    "encipher_only",
    "decipher_only",
)
EXT_KEY_USAGES: dict[str, x509.ObjectIdentifier] = {
    "any_extended": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec_end_system": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec_tunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec_user": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft_server_gated_crypto": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape_server_gated_crypto": x509.ObjectIdentifier("2.16.840.1.113730.4.1"),
    "microsoft_commercial_code_signing": x509.ObjectIdentifier("1.3.6.1.4.1.311.2.1.22"),
    "microsoft_kernel_code_signing": x509.ObjectIdentifier("1.3.6.1.4.1.311.61.1.1"),
}
# Go's pkix.Name.ToRDNSequence order (the provider builds a pkix.Name from `subject`)
SUBJECT_FIELDS: tuple[tuple[str, x509.ObjectIdentifier], ...] = (
    ("country", NameOID.COUNTRY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("streetAddresses", NameOID.STREET_ADDRESS),
    ("postalCode", NameOID.POSTAL_CODE),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("commonName", NameOID.COMMON_NAME),
    ("serialNumber", NameOID.SERIAL_NUMBER),
    ("emailAddress", NameOID.EMAIL_ADDRESS),
)

PrivateKeyTypes = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class TlsProviderError(Exception):
    """What the real provider would report as a diagnostic (the registration fails)."""


def secret(value: Any) -> dict[str, Any]:
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


def load_private_key(pem: str) -> PrivateKeyTypes:
    # the keys are our own: skip the (slow, for RSA 4096) consistency checks of the loader
    key = serialization.load_pem_private_key(pem.encode(), password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise TlsProviderError(f"unsupported private key type {type(key).__name__}")
    return key


def key_algorithm(key: Any) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RSA"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ECDSA"
    return "ED25519"


def signature_hash(key: PrivateKeyTypes) -> Optional[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]:
    """Go's x509 default: SHA-256 for RSA and P-256, SHA-384 for P-384, SHA-512 for P-521."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = key.curve.key_size
        return hashes.SHA512() if size > 384 else hashes.SHA384() if size > 256 else hashes.SHA256()
    return hashes.SHA256()


def subject_name(subject: Optional[dict[str, Any]]) -> x509.Name:
    attrs: list[x509.RelativeDistinguishedName] = []
    subject = subject or {}
    for key, oid in SUBJECT_FIELDS:
        value = subject.get(key)
        if value in (None, "", []):
            continue
        for item in value if isinstance(value, list) else [value]:
            attrs.append(x509.RelativeDistinguishedName([x509.NameAttribute(oid, str(item))]))
    return x509.Name(attrs)


def san_names(inputs: dict[str, Any]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in inputs.get("dnsNames") or []]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in inputs.get("ipAddresses") or []]
    names += [x509.UniformResourceIdentifier(u) for u in inputs.get("uris") or []]
    return names


def _rfc3339(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class TlsFake:
    """Answers the tls resource types with real key material; anything else is left to synth."""

    def __init__(self, state: Optional[dict[tuple[Any, ...], Any]] = None, honour_path_len_zero: bool = False):
        self.state: dict[tuple[Any, ...], Any] = state if state is not None else {}
        self.honour_path_len_zero = honour_path_len_zero
        # resource name -> the PEM the fake produced (certificates and CSRs), for tests
        self.issued: dict[str, str] = {}

    def __call__(self, args: Any) -> Optional[tuple[Optional[str], dict[str, Any]]]:
        handler = {
            PRIVATE_KEY: self._private_key,
            SELF_SIGNED: self._self_signed,
            CERT_REQUEST: self._cert_request,
            LOCALLY_SIGNED: self._locally_signed,
        }.get(args.typ)
        if handler is None:
            return None
        inputs = unwrap(dict(args.inputs))
        remembered = ("resource", args.typ, args.name, json.dumps(inputs, sort_keys=True, default=str))
        if args.typ != PRIVATE_KEY and remembered in self.state:
            rid, computed = self.state[remembered]  # unchanged inputs: no replacement
            if "certPem" in computed:
                self.issued[args.name] = computed["certPem"]
        else:
            rid, computed = handler(args.name, inputs)
            self.state[remembered] = (rid, computed)
        state = dict(args.inputs)
        state.update(computed)
        return rid, state

    # ------------------------------------------------------------------------- PrivateKey

    def _generate(self, algorithm: str, rsa_bits: int, curve: str) -> PrivateKeyTypes:
        if algorithm == "RSA":
            if rsa_bits < 1024:
                raise TlsProviderError(f"rsa_bits {rsa_bits} is too small")
            return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        if algorithm == "ECDSA":
            if curve not in CURVES:
                raise TlsProviderError(f"ecdsa_curve {curve!r} is not one of {', '.join(CURVES)}")
            return ec.generate_private_key(CURVES[curve]())
        if algorithm == "ED25519":
            return ed25519.Ed25519PrivateKey.generate()
        raise TlsProviderError(f"algorithm {algorithm!r} is not one of RSA, ECDSA, ED25519")

    def _private_key(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        algorithm = str(inputs.get("algorithm"))
        rsa_bits = int(inputs.get("rsaBits") or 2048)
        curve = str(inputs.get("ecdsaCurve") or "P224")
        cache_key = (
            "key",
            name,
            algorithm,
            rsa_bits if algorithm == "RSA" else None,
            curve if algorithm == "ECDSA" else None,
        )
        if cache_key in self.state:
            key = load_private_key(self.state[cache_key])
        else:
            key = self._generate(algorithm, rsa_bits, curve)
        pkcs8 = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):  # PKCS#1 / SEC1, like Go
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            ).decode()
        else:
            pem = pkcs8
        self.state[cache_key] = pem
        public = key.public_key()
        public_pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        state: dict[str, Any] = {
            "algorithm": algorithm,
            "privateKeyPem": secret(pem),
            "privateKeyPemPkcs8": secret(pkcs8),
            "publicKeyPem": public_pem,
            "privateKeyOpenssh": secret(""),
            "publicKeyOpenssh": "",
            "publicKeyFingerprintMd5": "",
            "publicKeyFingerprintSha256": "",
        }
        if not (isinstance(key, ec.EllipticCurvePrivateKey) and curve == "P224"):  # ssh has no P-224
            openssh = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            state["privateKeyOpenssh"] = secret(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
                ).decode()
            )
            state["publicKeyOpenssh"] = openssh.decode() + "\n"
            blob = openssh.split()[1]
            raw = base64.b64decode(blob)
            state["publicKeyFingerprintMd5"] = ":".join(f"{b:02x}" for b in hashlib.md5(raw).digest())
            sha256 = base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
            state["publicKeyFingerprintSha256"] = f"SHA256:{sha256}"
        digest = hashlib.sha1(public_pem.encode()).hexdigest()  # the provider's id
        return digest, state

    # ----------------------------------------------------------------------- certificates

    def _create_certificate(
        self,
        inputs: dict[str, Any],
        subject: x509.Name,
        sans: list[x509.GeneralName],
        public_key: Any,
        issuer_name: x509.Name,
        issuer_ski: Optional[bytes],
        signing_key: PrivateKeyTypes,
        self_signed: bool,
    ) -> tuple[str, dict[str, Any]]:
        hours = inputs.get("validityPeriodHours")
        if hours is None or int(hours) < 0:
            raise TlsProviderError("validity_period_hours is required and must be >= 0")
        uses = [str(u) for u in inputs.get("allowedUses") or []]
        unknown = [u for u in uses if u not in KEY_USAGES and u not in EXT_KEY_USAGES]
        if unknown:
            raise TlsProviderError(f"allowed_uses: unsupported value(s) {', '.join(unknown)}")
        is_ca = bool(inputs.get("isCaCertificate"))
        if is_ca and len(subject) == 0:
            raise TlsProviderError("Must contain at least one Distinguished Name when creating a CA certificate")

        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        not_after = now + dt.timedelta(hours=int(hours))
        serial = secrets.randbits(128) or 1
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(now)
            .not_valid_after(not_after)
        )
        # basicConstraints: the provider always sets BasicConstraintsValid
        path_len: Optional[int] = None
        max_path = inputs.get("maxPathLength")
        if is_ca and max_path is not None and (int(max_path) > 0 or (int(max_path) == 0 and self.honour_path_len_zero)):
            path_len = int(max_path)
        builder = builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_len), critical=True)
        flags = {u: (u in uses) for u in KEY_USAGES}
        if any(flags.values()):
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=flags["digital_signature"],
                    content_commitment=flags["content_commitment"],
                    key_encipherment=flags["key_encipherment"],
                    data_encipherment=flags["data_encipherment"],
                    key_agreement=flags["key_agreement"],
                    key_cert_sign=flags["cert_signing"],
                    crl_sign=flags["crl_signing"],
                    encipher_only=flags["encipher_only"],
                    decipher_only=flags["decipher_only"],
                ),
                critical=True,
            )
        ekus = [EXT_KEY_USAGES[u] for u in uses if u in EXT_KEY_USAGES]
        if ekus:
            builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        ski: Optional[bytes] = None
        if is_ca or inputs.get("setSubjectKeyId"):
            ski = x509.SubjectKeyIdentifier.from_public_key(public_key).digest
            builder = builder.add_extension(x509.SubjectKeyIdentifier(ski), critical=False)
        aki = issuer_ski if not self_signed else (ski if inputs.get("setAuthorityKeyId") else None)
        if self_signed and inputs.get("setAuthorityKeyId") and aki is None:
            raise TlsProviderError("Could not determine Authority Key Identifier")
        if aki:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier(aki, authority_cert_issuer=None, authority_cert_serial_number=None),
                critical=False,
            )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=len(subject) == 0)
        cert = builder.sign(signing_key, signature_hash(signing_key))
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        return str(serial), {
            "certPem": pem,
            "validityStartTime": _rfc3339(now),
            "validityEndTime": _rfc3339(not_after),
            "readyForRenewal": False,
            "isCaCertificate": is_ca,
            "maxPathLength": int(max_path) if max_path is not None else -1,
            "earlyRenewalHours": int(inputs.get("earlyRenewalHours") or 0),
            "setSubjectKeyId": bool(inputs.get("setSubjectKeyId")),
        }

    def _self_signed(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        key_pem = inputs.get("privateKeyPem")
        if not key_pem:
            raise TlsProviderError(f"{name}: private_key_pem is required")
        key = load_private_key(key_pem)
        subject = subject_name(inputs.get("subject"))
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
        rid, state = self._create_certificate(
            inputs, subject, san_names(inputs), key.public_key(), subject, ski, key, self_signed=True
        )
        state["keyAlgorithm"] = key_algorithm(key)
        state["setAuthorityKeyId"] = bool(inputs.get("setAuthorityKeyId"))
        self.issued[name] = state["certPem"]
        return rid, state

    def _cert_request(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        key_pem = inputs.get("privateKeyPem")
        if not key_pem:
            raise TlsProviderError(f"{name}: private_key_pem is required")
        key = load_private_key(key_pem)
        builder = x509.CertificateSigningRequestBuilder().subject_name(subject_name(inputs.get("subject")))
        sans = san_names(inputs)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        csr = builder.sign(key, signature_hash(key))
        pem = csr.public_bytes(serialization.Encoding.PEM).decode()
        self.issued[name] = pem
        return hashlib.sha1(pem.encode()).hexdigest(), {  # the provider's id
            "certRequestPem": pem,
            "keyAlgorithm": key_algorithm(key),
        }

    def _locally_signed(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        for key in ("certRequestPem", "caCertPem", "caPrivateKeyPem"):
            if not inputs.get(key):
                raise TlsProviderError(f"{name}: {key} is required")
        try:
            csr = x509.load_pem_x509_csr(str(inputs["certRequestPem"]).encode())
        except ValueError as exc:
            raise TlsProviderError(f"{name}: Failed to parse certificate request PEM: {exc}") from None
        if not csr.is_signature_valid:
            raise TlsProviderError(f"{name}: the certificate request's signature does not verify")
        ca_cert = x509.load_pem_x509_certificate(str(inputs["caCertPem"]).encode())
        ca_key = load_private_key(str(inputs["caPrivateKeyPem"]))
        der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if ca_key.public_key().public_bytes(der, spki) != ca_cert.public_key().public_bytes(der, spki):
            raise TlsProviderError(f"{name}: x509: provided PrivateKey doesn't match parent's PublicKey")
        try:
            ca_ski: Optional[bytes] = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            ca_ski = None
        try:
            sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            sans = []
        rid, state = self._create_certificate(
            inputs, csr.subject, sans, csr.public_key(), ca_cert.subject, ca_ski, ca_key, self_signed=False
        )
        state["caKeyAlgorithm"] = key_algorithm(ca_key)
        self.issued[name] = state["certPem"]
        return rid, state
