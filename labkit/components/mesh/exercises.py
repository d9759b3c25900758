"""Check your understanding: questions whose answers the learner finds in the live mesh, checked against it.

>>> ask("uid")                                # prints the question and where to look        # doctest: +SKIP
>>> check("uid", 1337, mesh)                  # ✓ or ✗, with what the live mesh says            # doctest: +SKIP
>>> reveal("uid", mesh)                       # the answer, read from the mesh                 # doctest: +SKIP

Each answer is read from the running system when checked (the nat table, Envoy's counters, what the server's
app saw), never from a key in this file; a learner's *action* (a split) is checked by sending requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labkit.errors import BadInput


@dataclass(frozen=True)
class Question:
    text: str
    hint: str
    answer: Callable[[Any], Any]  # reads the answer from the live mesh
    same: Callable[[Any, Any], bool] = lambda given, want: str(given).strip() == str(want).strip()


def _uid(mesh: Any) -> int:
    m = re.search(r"--uid-owner (\d+) -j RETURN", mesh.pod("client").capture)
    return int(m.group(1)) if m else -1


def _identity(mesh: Any) -> str:
    return str(mesh.call(path="/exercise").identity)


def _inbound_port(mesh: Any) -> int:
    m = re.search(r"REDIRECT --to-ports (\d+)", mesh.pod("server-v1").capture.split("MESH_OUTPUT")[0])
    return int(m.group(1)) if m else -1


def _tls(mesh: Any) -> str:
    found = [k.rsplit(".", 1)[-1] if "TLSv1.3" not in k else "TLSv1.3"
             for k, v in mesh.stats("server-v1", r"listener\.0\.0\.0\.0_15006\.ssl\.versions").items() if v > 0]
    return ",".join(sorted(found)) or "none yet"


def _expired_counter(mesh: Any) -> str:
    return "ssl.fail_verify_error"  # the counter is fixed by Envoy; verify.run shows it move for the expired probe


def _v2_share(mesh: Any) -> float:
    return float(mesh.observe(seconds=1.5)["share"].get("server-v2", 0.0))


QUESTIONS: dict[str, Question] = {
    "uid": Question("Which user id does the OUTPUT rule exempt from the capture, and why must it?",
                    "print(mesh.pod('client').capture) — look for --uid-owner",
                    _uid, lambda g, w: str(g).strip() == str(w)),
    "identity": Question("Which identity did the server's app see for the caller (the URI in x-forwarded-client-cert)?",
                         "mesh.call().xfcc", _identity),
    "inbound-port": Question("On which port does the server's sidecar receive the connections iptables redirects?",
                             "print(mesh.pod('server-v1').capture) — PREROUTING → MESH_INBOUND", _inbound_port,
                             lambda g, w: str(g).strip() == str(w)),
    "tls": Question("Which TLS version do the sidecars negotiate (Envoy's own counters say)?",
                    "mesh.stats('server-v1', 'ssl.versions')", _tls,
                    lambda g, w: str(g).replace(" ", "").replace("TLS", "").replace("v", "").strip(".") in
                    str(w).replace("TLS", "").replace("v", "")),
    "expired": Question("Which counter of the server's inbound listener goes up when a peer presents an expired "
                        "certificate — and why can that counter alone not tell expired from wrong-CA?",
                        "verify.run(...): the evidence of 'expired certificate refused'", _expired_counter,
                        lambda g, w: str(g).strip().split(".")[-1] == str(w).split(".")[-1]),
    "split-80": Question("Action: send 80 % of the client's requests to server-v2 (control 'xds' or 'file'), live.",
                         "mesh.split({'server-v1': 20, 'server-v2': 80})", _v2_share,
                         lambda g, w: abs(float(w) - 0.8) <= 0.1),
}


def _q(key: str) -> Question:
    if key not in QUESTIONS:
        raise BadInput("question", key, ", ".join(QUESTIONS))
    return QUESTIONS[key]


def ask(key: str) -> str:
    q = _q(key)
    return f"{q.text}\n(where to look: {q.hint})"


def check(key: str, given: Any, mesh: Any) -> str:
    """✓ or ✗ for ``given``, compared with what the live ``mesh`` says now (for an action, ``given`` is ignored)."""
    q = _q(key)
    want = q.answer(mesh)
    ok = q.same(given, want)
    verdict = "✓ right" if ok else "✗ not quite"
    return f"{verdict}: the live mesh says {want!r}" + ("" if ok else f" (you said {given!r})")


def reveal(key: str, mesh: Any) -> str:
    q = _q(key)
    return f"{q.text}\n→ {q.answer(mesh)!r}"
