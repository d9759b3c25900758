"""The lab's certificate authority (openssl) and the registry's password file (htpasswd -B).

Three openssl commands, run in the tool belt, make what every TLS setup needs: a CA (``CA:TRUE, pathlen:0``,
``keyCertSign``) and a server certificate it signs, whose **subjectAltName** lists every name a client dials
(Go clients — docker, cosign, skopeo — ignore the CN). Private keys are written with ``umask 077`` into the
0700 ``tls/`` directory and never printed; only ``ca/ca.crt`` (public) is handed to clients.

``htpasswd -niBC 5 USER`` reads the password on stdin (``-i``) and prints ``USER:$2y$05$…``: the bcrypt hash
Distribution accepts. The cost is paid on **every** registry request (basic auth, no token server), so the lab
keeps htpasswd's default of 5 (``bcrypt.gensalt()`` would give 12: about a second per request here).
"""

from __future__ import annotations

from labkit._run import Cmd
from labkit.components.pipeline.settings import Layout, Secret, write_private
from labkit.components.pipeline.toolbox import Journal, Toolbox

DAYS = "30"
SUBJECT = "/O=labkit lab/CN="
#: Names a client may dial; every one must be a SAN (the registry is published on 127.0.0.1).
SERVER_NAMES = "DNS:localhost,IP:127.0.0.1"


def _private(tb: Toolbox, *argv: str) -> Cmd:
    """``sh -c 'umask 077 && exec "$@"' sh ARGV…``: new key files are 0600 from the start (argv, no splicing)."""
    return tb.cmd("sh", "-c", 'umask 077 && exec "$@"', "sh", *argv)


def commands(tb: Toolbox) -> list[Cmd]:
    """The CA, the server key + request, and the signed server certificate, as the lab runs them."""
    ca_key, ca_crt = Layout.inside("tls", "ca.key"), Layout.inside("ca", "ca.crt")
    key, csr, crt = (Layout.inside("tls", f"server.{x}") for x in ("key", "csr", "crt"))
    return [
        _private(tb, "openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-noenc", "-keyout", ca_key, "-out", ca_crt, "-days", DAYS, "-subj", SUBJECT + "labkit lab CA",
                 "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"),
        _private(tb, "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
                 "-keyout", key, "-out", csr, "-subj", SUBJECT + "localhost",
                 "-addext", f"subjectAltName={SERVER_NAMES}", "-addext", "extendedKeyUsage=serverAuth",
                 "-addext", "basicConstraints=critical,CA:FALSE"),
        _private(tb, "openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-days", DAYS,
                 "-copy_extensions", "copyall", "-out", crt),
    ]


def make_ca(tb: Toolbox, layout: Layout, journal: Journal) -> None:
    for cmd in commands(tb):
        journal.run(cmd, stage="lab", timeout=60)
    layout.ca_cert.chmod(0o644)


def htpasswd_cmd(tb: Toolbox, user: str, cost: int) -> Cmd:
    return tb.cmd("htpasswd", "-niBC", str(cost), user, stdin=True)


def write_htpasswd(tb: Toolbox, layout: Layout, journal: Journal, *, user: str, password: Secret, cost: int) -> None:
    """``USER:$2y$…`` into ``auth/htpasswd`` (0600); the password only ever travels on stdin."""
    out = journal.run(htpasswd_cmd(tb, user, cost), stage="lab", timeout=60, secret=password).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith(f"{user}:$2")), None)
    if line is None:
        from labkit.errors import LabkitError

        raise LabkitError("htpasswd did not print a bcrypt line", fix=f"see {journal.path('lab')}")
    write_private(layout.host("auth", "htpasswd"), line + "\n")
