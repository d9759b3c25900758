"""cosign 2.5 (Debian trixie) with a key pair: sign a digest, attach the SBOM as an attestation, verify both.

* ``cosign generate-key-pair`` writes ``cosign.key`` (the private key, encrypted with a passphrase) and
  ``cosign.pub``. The passphrase goes to cosign on **stdin** — cosign reads a piped passphrase when
  ``COSIGN_PASSWORD`` is unset and stdin is not a terminal — so it is in no argv and in no container's
  environment (``docker inspect`` would show that). Exactly its bytes: ``echo`` would add a newline to it.
* The signature covers the **digest** (never a tag: a tag can move between "resolve" and "sign") plus
  annotations (``io.labkit.commit``): a signature for *this content from this commit*. It is stored in the
  registry beside the image, as tag ``sha256-<hex>.sig``; the SBOM attestation (an in-toto statement whose
  subject is the digest) as ``sha256-<hex>.att``.
* The transparency log is off (``--tlog-upload=false`` / ``--insecure-ignore-tlog=true``): Rekor cannot be
  reached from here. With tlog on, every signature would also be entered in a public append-only log; keyless
  signing (Fulcio) would replace the long-lived key by a 10-minute certificate for a CI identity.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit._run import Cmd
from labkit.components.pipeline.settings import Layout, Secret
from labkit.components.pipeline.toolbox import Journal, Toolbox

KEY = Layout.inside("keys", "cosign.key")
PUB = Layout.inside("keys", "cosign.pub")
CACERT = ("--registry-cacert", Layout.inside("ca", "ca.crt"))
COMMIT = "io.labkit.commit"


@dataclass(frozen=True)
class Verification:
    ok: bool
    ref: str
    claims: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    @property
    def commit(self) -> str:
        """The commit annotation the signature carries ('' when unsigned)."""
        for claim in self.claims:
            value = (claim.get("optional") or {}).get(COMMIT)
            if value:
                return str(value)
        return ""


def fingerprint(public_key: Path) -> str:
    """How the audit names the signer: sha256 of the public key PEM (16 hex digits)."""
    return "sha256:" + hashlib.sha256(public_key.read_bytes()).hexdigest()[:16]


def keygen_cmd(tools: Toolbox) -> Cmd:
    return tools.cmd("cosign", "generate-key-pair", workdir=Layout.inside("keys"), stdin=True)


def sign_cmd(tools: Toolbox, ref: str, annotations: dict[str, str]) -> Cmd:
    argv = ["cosign", "sign", "--key", KEY, "--tlog-upload=false", "--yes", *CACERT]
    for key, value in annotations.items():
        argv += ["-a", f"{key}={value}"]
    return tools.cmd(*argv, ref, stdin=True)


def attest_cmd(tools: Toolbox, ref: str, predicate: str) -> Cmd:
    return tools.cmd("cosign", "attest", "--key", KEY, "--type", "cyclonedx", "--predicate", predicate,
                     "--tlog-upload=false", "--yes", *CACERT, ref, stdin=True)


def verify_cmd(tools: Toolbox, ref: str, annotations: dict[str, str] | None = None) -> Cmd:
    argv = ["cosign", "verify", "--key", PUB, "--insecure-ignore-tlog=true", *CACERT]
    for key, value in (annotations or {}).items():
        argv += ["-a", f"{key}={value}"]
    return tools.cmd(*argv, ref)


def verify_attestation_cmd(tools: Toolbox, ref: str) -> Cmd:
    return tools.cmd("cosign", "verify-attestation", "--key", PUB, "--type", "cyclonedx",
                     "--insecure-ignore-tlog=true", *CACERT, ref)


def generate_key_pair(tools: Toolbox, layout: Layout, journal: Journal, passphrase: Secret) -> Path:
    for name in ("cosign.key", "cosign.pub"):  # cosign asks before overwriting: start clean
        layout.host("keys", name).unlink(missing_ok=True)
    journal.run(keygen_cmd(tools), stage="lab", timeout=120, secret=passphrase)
    return layout.host("keys", "cosign.pub")


def _require_digest(ref: str) -> None:
    from labkit.errors import BadInput

    if "@sha256:" not in ref:
        raise BadInput("reference to sign", ref, "REGISTRY/REPO@sha256:<digest> (a digest, never a tag)")


def sign(tools: Toolbox, journal: Journal, ref: str, passphrase: Secret, *, annotations: dict[str, str],
         stage: str = "sign") -> None:
    _require_digest(ref)
    journal.run(sign_cmd(tools, ref, annotations), stage=stage, timeout=180, secret=passphrase)


def attest(tools: Toolbox, journal: Journal, ref: str, predicate: str, passphrase: Secret, *,
           stage: str = "sign") -> None:
    _require_digest(ref)
    journal.run(attest_cmd(tools, ref, predicate), stage=stage, timeout=180, secret=passphrase)


def last_error(stderr: str) -> str:
    """cosign's own reason, without its tlog warning."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("WARNING")]
    return lines[-1] if lines else "cosign failed without a message"


def parse_verify(ref: str, rc: int, stdout: str, stderr: str) -> Verification:
    if rc != 0:
        return Verification(False, ref, error=last_error(stderr))
    out = stdout.strip()
    return Verification(True, ref, claims=json.loads(out) if out.startswith("[") else [])


def parse_attestation(ref: str, rc: int, stdout: str, stderr: str) -> Verification:
    """Each DSSE envelope's payload is an in-toto statement; the predicate is the SBOM."""
    if rc != 0:
        return Verification(False, ref, error=last_error(stderr))
    claims: list[dict[str, Any]] = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
        predicate = statement.get("predicate") or {}
        claims.append({"predicateType": statement.get("predicateType"),
                       "subject": ((statement.get("subject") or [{}])[0].get("digest") or {}).get("sha256", ""),
                       "components": len(predicate.get("components") or [])})
    return Verification(True, ref, claims=claims)


def verify(tools: Toolbox, journal: Journal, ref: str, *, annotations: dict[str, str] | None = None,
           stage: str = "verify") -> Verification:
    res = journal.run(verify_cmd(tools, ref, annotations), stage=stage, timeout=120, check=False)
    return parse_verify(ref, res.returncode, res.stdout, res.stderr)


def verify_attestation(tools: Toolbox, journal: Journal, ref: str, *, stage: str = "verify") -> Verification:
    res = journal.run(verify_attestation_cmd(tools, ref), stage=stage, timeout=120, check=False)
    return parse_attestation(ref, res.returncode, res.stdout, res.stderr)
