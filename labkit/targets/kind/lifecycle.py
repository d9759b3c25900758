"""kind clusters labkit makes: reuse or refuse by saved config, down, load images.

The config a cluster was made with is kept beside its kubeconfig (``<name>.config.yaml``, written
atomically), so ``up`` can tell "the same cluster again" (reused) from "another cluster under that
name" (refused, with the difference shown).

``up`` itself composes components: :func:`labkit.components.up.up`.
"""

from __future__ import annotations

from pathlib import Path

from labkit._run import Runner, default_runner
from labkit.errors import BadInput, LabkitError
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kind.plans import delete_plan, load_images_plan
from labkit.targets.kube import KubeTarget, kubeconfig_path

PREFIX = "labkit"


class ClusterConflict(LabkitError):
    """A kind cluster of that name exists but was made with another config."""


def saved_config_path(name: str) -> Path:
    return kubeconfig_path(name).with_name(f"{name}.config.yaml")


def existing_clusters(kind: str = "kind", runner: Runner | None = None) -> list[str]:
    res = (runner or default_runner()).run([kind, "get", "clusters"], timeout=60, quiet=True)
    return [line.strip() for line in res.stdout.splitlines() if line.strip() and " " not in line.strip()]


def check_existing(cfg: ClusterConfig, clusters: list[str]) -> bool:
    """True if a cluster of this name exists with the same config (reuse); raise ClusterConflict if different."""
    if cfg.name not in clusters:
        return False
    saved = saved_config_path(cfg.name)
    if saved.is_file() and saved.read_text() == cfg.to_yaml():
        return True
    why = ("it was made with another config:\n" + _diff(saved.read_text(), cfg.to_yaml())) if saved.is_file() \
        else "labkit has no record of its config (made by hand or by an older labkit)"
    raise ClusterConflict(f"a kind cluster named {cfg.name} already exists and {why}",
                          fix=f"`labkit down --name {cfg.name}` first, or choose another name with --name")


def _diff(a: str, b: str) -> str:
    import difflib

    return "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(), "existing", "requested", lineterm="", n=1))


def down(name: str = PREFIX, *, runner: Runner | None = None, kind: str | None = None) -> None:
    """Delete the kind cluster ``name`` and the lab's files for it. Missing is fine (nothing to do)."""
    if not isinstance(name, str) or not name.startswith(PREFIX):
        raise BadInput("cluster name", name, "a labkit cluster (its name starts with 'labkit')",
                       fix="labkit only deletes clusters it made; use `kind delete cluster` for others")
    from labkit import tools

    kind = kind or tools.locate("kind") or "kind"
    delete_plan(name, kind=kind).run(runner)
    for path in (saved_config_path(name), kubeconfig_path(name)):
        path.unlink(missing_ok=True)


def load_images(target: KubeTarget, images: list[str], *, runner: Runner | None = None) -> None:
    load_images_plan(target, images).run(runner)
