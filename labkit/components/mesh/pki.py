"""The lab's certificate authority: who a workload is, written into a certificate (Python ``cryptography``).

Engine tier: an ECDSA P-256 root CA (``CA:TRUE, pathlen:0``) issues one certificate per service whose only
subject-alternative name is its SPIFFE ID (``spiffe://labkit.local/ns/default/sa/<service>``, critical), usable
for TLS server and client auth, valid one day — Istio's workload certificates have the same shape (and a
24 h lifetime). The same two functions make the bad certificates the verify needs: the right CA with the wrong
identity, an expired one, and one signed by another ("rogue") CA.

kind tier: Linkerd's trust anchor (``CA:TRUE, pathlen:1``) and identity issuer (``pathlen:0``), ECDSA P-256 as
Linkerd requires, made here instead of with the ``step`` CLI its docs use.

Keys never touch the host's disk: they go into the workload's sidecar as a tar stream (:func:`tar`), owned by
the proxy's uid with mode 0400, and the CA key is registered with :mod:`labkit.redact` so no log shows it.
"""

from __future__ import annotations

import datetime as dt
import io
import tarfile
import time
from dataclasses import dataclass, field
from typing import Any

from labkit.components.mesh.identity import spiffe_id

BAD = ("bad-identity", "bad-expired", "bad-ca")


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: Any  # cryptography.x509.Certificate
    key: Any  # cryptography ... EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def key_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return bytes(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_usage(*, ca: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(digital_signature=not ca, key_agreement=not ca, key_cert_sign=ca, crl_sign=ca,
                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                         encipher_only=False, decipher_only=False)


def new_ca(common_name: str = "labkit mesh root CA", *, days: float = 365, path_length: int = 0,
           issuer: Issued | None = None) -> Issued:
    """An ECDSA P-256 CA: self-signed, or signed by ``issuer`` (an intermediate). Its key is registered as a secret."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from labkit import redact

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    signer = issuer.key if issuer else key
    now = _now()
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer.cert.subject if issuer else name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
               .add_extension(_key_usage(ca=True), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                                        critical=False)
    out = Issued(builder.sign(signer, hashes.SHA256()), key)
    redact.register(out.key_pem().decode())
    return out


def issue(ca: Issued, uri: str, *, days: float = 1.0, not_before: dt.datetime | None = None) -> Issued:
    """A workload certificate for SPIFFE ID ``uri``: one critical URI SAN, server + client auth.

    ``not_before`` / ``days`` make an already expired certificate when both lie in the past."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or (_now() - dt.timedelta(minutes=5))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "labkit")]))
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return Issued(cert, key)


@dataclass
class MeshPki:
    """The engine mesh's PKI: the root, one certificate per service, and the three bad client certificates."""

    ca: Issued
    leaves: dict[str, Issued] = field(default_factory=dict)

    def leaf(self, name: str) -> Issued:
        if name not in self.leaves:
            self.leaves[name] = issue(self.ca, spiffe_id(name))
        return self.leaves[name]

    def bundle(self, name: str) -> dict[str, bytes]:
        """What one workload's sidecar gets: the CA certificate, its certificate and its key."""
        leaf = self.leaves[name] if name in BAD else self.leaf(name)
        return {"ca.crt": self.ca.cert_pem(), "tls.crt": leaf.cert_pem(), "tls.key": leaf.key_pem()}


def mesh_pki(services: list[str] | tuple[str, ...] = ("client", "server")) -> MeshPki:
    """A fresh root, a certificate per service, and the bad ones (``bad-identity``, ``bad-expired``, ``bad-ca``)."""
    pki = MeshPki(new_ca())
    for svc in services:
        pki.leaf(svc)
    pki.leaves["bad-identity"] = issue(pki.ca, spiffe_id("mallory"))  # right CA, wrong identity
    past = _now() - dt.timedelta(days=2)
    pki.leaves["bad-expired"] = issue(pki.ca, spiffe_id("client"), days=1 - 1 / 24, not_before=past)  # 1 h ago
    pki.leaves["bad-ca"] = issue(new_ca("rogue CA"), spiffe_id("client"))  # right identity, another CA
    return pki


def describe(cert: Any) -> dict[str, Any]:
    """What a person checks on a certificate: subject, issuer, SANs, validity, CA constraints, key."""
    from cryptography import x509

    out: dict[str, Any] = {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
                           "not_before": cert.not_valid_before_utc.isoformat(),
                           "not_after": cert.not_valid_after_utc.isoformat(),
                           "expired": cert.not_valid_after_utc < _now(),
                           "key": f"{cert.public_key().curve.name} ({cert.signature_hash_algorithm.name})"}
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        out["uri_sans"] = san.value.get_values_for_type(x509.UniformResourceIdentifier)
        out["san_critical"] = san.critical
    except x509.ExtensionNotFound:
        out["uri_sans"] = []
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    out["ca"], out["path_length"] = bc.ca, bc.path_length
    return out


def tar(files: dict[str, bytes], *, uid: int, gid: int | None = None, key_mode: int = 0o400,
        marker: str | None = None) -> bytes:
    """A tar stream of ``files`` (path → bytes) owned by ``uid``; ``*.key`` files get ``key_mode``, others 0444.

    ``marker`` names an empty file added last (the mesh agent waits for it before it starts Envoy)."""
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        entries = list(files.items()) + ([(marker, b"")] if marker else [])
        for path, data in entries:
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.uid, info.gid = len(data), now, uid, uid if gid is None else gid
            info.mode = key_mode if path.endswith(".key") else 0o444
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def linkerd_identity(trust_domain: str = "cluster.local", *, anchor_days: float = 3650,
                     issuer_days: float = 365) -> tuple[Issued, Issued]:
    """Linkerd's trust anchor (root, pathlen 1) and identity issuer (intermediate, pathlen 0), ECDSA P-256.

    The same certificates the Linkerd docs make with ``step certificate create root.linkerd.cluster.local … --profile
    root-ca`` and ``identity.linkerd.cluster.local … --profile intermediate-ca --not-after 8760h``."""
    anchor = new_ca(f"root.linkerd.{trust_domain}", days=anchor_days, path_length=1)
    issuer = new_ca(f"identity.linkerd.{trust_domain}", days=issuer_days, path_length=0, issuer=anchor)
    return anchor, issuer
