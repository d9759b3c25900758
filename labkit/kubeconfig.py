"""One kubeconfig resolver, for the Kubernetes client and for every kubectl/helm argv alike.

``KUBECONFIG`` may name several files (a path list, merged the way kubectl merges it: the first
file to define a name wins, the first ``current-context`` wins). ``kubectl --kubeconfig`` takes one
file, so labkit resolves the list to *the file that defines the context* and uses that one file
everywhere: the client and the commands a learner can paste then talk to the same cluster. A
context whose cluster or user entry lives in another file of the list is refused with the fix.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.errors import BadInput


@dataclass(frozen=True)
class Resolved:
    path: str  # the one kubeconfig file that defines the context
    context: str
    spec: str  # what was asked for (a file, or a path list)


def default_spec() -> str:
    """What kubectl reads when told nothing: ``$KUBECONFIG`` or ``~/.kube/config``."""
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def _load(path: str) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput("kubeconfig", path, "a readable YAML kubeconfig", fix=f"repair or remove it ({exc})") from exc
    if not isinstance(doc, dict):
        raise BadInput("kubeconfig", path, "a YAML mapping (apiVersion: v1, kind: Config)")
    return doc


def _names(doc: dict[str, Any], section: str) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in doc.get(section) or [] if isinstance(e, dict) and e.get("name")}


def resolve(kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None) -> Resolved:
    """The file and context that ``kubeconfig`` (default: as kubectl) and ``context`` (default: current) mean."""
    spec = os.fspath(kubeconfig) if kubeconfig else default_spec()
    paths = [os.path.expanduser(p) for p in spec.split(os.pathsep) if p]
    existing = [p for p in paths if os.path.isfile(p)]
    if not existing:
        raise BadInput("kubeconfig", spec, "an existing kubeconfig file",
                       fix="pass kubeconfig=PATH (--kubeconfig) or set KUBECONFIG (labkit's own clusters keep "
                           "theirs in ~/.local/share/labkit/kube/<name>.yaml)")
    docs = [(p, _load(p)) for p in existing]
    owner: dict[str, str] = {}
    current: str | None = None
    for path, doc in docs:
        for name in _names(doc, "contexts"):
            owner.setdefault(name, path)
        current = current or doc.get("current-context") or None
    chosen = context or current
    if not chosen or chosen not in owner:
        raise BadInput("context", chosen, ", ".join(owner) or f"(no contexts in {spec})",
                       fix=f"pass context=NAME, one of those (`kubectl --kubeconfig {shlex.quote(existing[0])} "
                           "config get-contexts`)")
    path = owner[chosen]
    doc = dict(docs)[path]
    entry = _names(doc, "contexts")[chosen].get("context") or {}
    for section, key in (("clusters", "cluster"), ("users", "user")):
        wanted = entry.get(key)
        if wanted and wanted not in _names(doc, section):
            raise BadInput(f"kubeconfig {key} of context {chosen}", wanted, f"a {key} entry in {path}",
                           fix="merge the files into one (`kubectl config view --flatten > merged.yaml`) and pass "
                               "that file: kubectl --kubeconfig reads one file")
    return Resolved(path, chosen, spec)
