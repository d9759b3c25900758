"""``python -m labkit.components.mesh.kind_certs DIR``: Linkerd's trust anchor and identity issuer, made by labkit.

Writes ``ca.crt`` (trust anchor, CA:TRUE pathlen 1, 10 years), ``issuer.crt`` and ``issuer.key`` (identity issuer,
CA:TRUE pathlen 0, 1 year), ECDSA P-256 as Linkerd requires, into ``DIR`` (mode 0700; the key 0600). The anchor's
key is not kept: a lab re-makes both when the issuer expires. Existing files are left alone (the step is
idempotent). The install plan passes the three files to Helm with ``--set-file``: no key in argv or in a log.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def write(directory: Path) -> list[Path]:
    from labkit.components.mesh.pki import linkerd_identity

    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    files = [directory / n for n in ("ca.crt", "issuer.crt", "issuer.key")]
    if all(f.is_file() and f.stat().st_size for f in files):
        return files
    anchor, issuer = linkerd_identity()
    for path, data, mode in ((files[0], anchor.cert_pem(), 0o644), (files[1], issuer.cert_pem(), 0o644),
                             (files[2], issuer.key_pem(), 0o600)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(path, mode)
    return files


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m labkit.components.mesh.kind_certs DIR", file=sys.stderr)
        return 2
    for path in write(Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
