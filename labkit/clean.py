"""``labkit clean``: remove everything labkit created, found by label or name.

Docker containers, networks, volumes and images carrying ``io.labkit.managed=true``;
kind clusters named ``labkit*``; host state the benchmarks make (veth links,
network namespaces, loop devices), found by their ``lk`` name prefix; and a swarm on
the local daemon, only if labkit initialised it (then ``docker_gwbridge`` too).
DinD swarm nodes are labelled containers, removed with their volumes.

:func:`reset` puts one chapter back: its notebook restored (the learner's copy saved aside first) and the
Docker objects labelled with that chapter (``io.labkit.chapter``) removed.

The lab's built images are kept unless asked for (``images=True``, ``labkit clean --images``): a trainer
who pre-built them for an offline room must not lose them to what looks like a reset. The base image
(``debian:bookworm-slim``) is never removed.

:func:`reap` removes only what belonged to labkit processes that are gone (a restarted kernel, a
killed CI job): every object labkit makes records its owner (``io.labkit.owner=host:pid``).
:func:`cluster_plan` removes labkit's namespaces and labelled objects from a cluster labkit did not make.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labkit import docker
from labkit._run import Runner, default_runner
from labkit.errors import BadInput
from labkit.log import log
from labkit.versions import project_root

KIND_PREFIX = "labkit"


@dataclass(frozen=True)
class Item:
    kind: str
    name: str
    ref: object


def find(*, images: bool = False) -> list[Item]:
    """Everything ``clean`` would remove, in removal order."""
    items = [Item(m.kind, m.name, m) for m in docker.managed(include_images=images)]
    items += [Item("kind cluster", name, name) for name in kind_clusters()]
    from labkit.targets import host as hoststate

    items += [Item(h.kind, h.name, h) for h in hoststate.find()]
    from labkit.targets import swarm

    items += [Item(s.kind, s.name, s) for s in swarm.leftovers()]
    # Leave the swarm before removing containers (its tasks would be restarted) and networks (its overlays).
    order = {"kind cluster": 0, "swarm": 0.5, "container": 1, "network": 2, "volume": 3, "image": 4}
    return sorted(items, key=lambda i: order.get(i.kind, 5))


def kind_clusters() -> list[str]:
    """kind clusters whose name starts with ``labkit`` (from their node containers' labels)."""
    names = {c.labels.get("io.x-k8s.kind.cluster", "") for c in docker.containers(label="io.x-k8s.kind.cluster")}
    return sorted(n for n in names if n.startswith(KIND_PREFIX))


def _delete_kind_cluster(name: str) -> None:
    from labkit import tools
    from labkit._run import run

    from labkit.targets.kind.lifecycle import saved_config_path
    from labkit.targets.kube import kubeconfig_path

    path = tools.locate("kind")
    if path:
        run([path, "delete", "cluster", "--name", name], timeout=300)
    else:
        for c in docker.containers(label=f"io.x-k8s.kind.cluster={name}"):
            docker.remove_container(c)
    for leftover in (kubeconfig_path(name), saved_config_path(name)):
        leftover.unlink(missing_ok=True)


def clean(*, dry_run: bool = False, images: bool = False) -> list[Item]:
    """Remove (or with ``dry_run`` only list) everything labkit created. Returns the items."""
    from labkit.targets import swarm
    from labkit.targets import host as hoststate

    items = find(images=images)
    if not items:
        log("nothing to clean: no labkit containers, networks, volumes, images, clusters or host state")
        return items
    for item in items:
        if dry_run:
            log(f"would remove {item.kind} {item.name}")
            continue
        log(f"removing {item.kind} {item.name}")
        if item.kind == "kind cluster":
            _delete_kind_cluster(item.name)
        elif isinstance(item.ref, docker.Managed):
            docker.remove(item.ref)
        elif isinstance(item.ref, swarm.Leftover):
            swarm.remove_leftover(item.ref)
        else:
            hoststate.remove(item.ref)  # type: ignore[arg-type]
    return items


def reap(*, dry_run: bool = False) -> list[Item]:
    """Remove (or list) only the leftovers of labkit processes that are gone; live sessions are untouched."""
    return [Item(m.kind, m.name, m) for m in docker.reap(dry_run=dry_run)]


def cluster_plan(target: object) -> object:
    """Delete labkit's namespaces and labelled objects from any cluster (``labkit clean --context C``).

    Only objects labelled ``io.labkit.managed=true`` go: the verify and bench namespaces and what
    labkit put elsewhere (the local-registry ConfigMap). Nothing labkit did not label is touched."""
    from labkit._run import Cmd
    from labkit.steps import Plan, Step

    k = target.kubectl  # type: ignore[attr-defined]
    sel = "io.labkit.managed=true"
    return Plan(f"Remove what labkit left in {target.name}").add(  # type: ignore[attr-defined]
        Step("Delete labkit's namespaces (their pods, PVCs and Jobs go with them)",
             Cmd(k("delete", "namespaces", "--selector", sel, "--ignore-not-found", "--wait=false"))),
        Step("Delete labkit's labelled objects in other namespaces",
             Cmd(k("delete", "pods,services,jobs,persistentvolumeclaims,configmaps,networkpolicies",
                   "--all-namespaces", "--selector", sel, "--ignore-not-found", "--wait=false"))))


# --- reset one chapter ----------------------------------------------------------------------------------------
LEARNER_DIR = "notebooks/.learner"  # the learner's copies, saved aside before a reset restores a notebook
PRISTINE_DIR = "notebooks/.pristine"  # outside a git checkout: copies made before anything could edit them
WORKSPACE = "workspace"  # `labkit lab` opens copies here, so autosave never writes into notebooks/


def chapter_names(root: Path | None = None) -> list[str]:
    """The chapters of this checkout: its numbered notebooks (00-start-here, 01-engine, …)."""
    base = (root or project_root()) / "notebooks"
    return sorted(p.stem for p in base.glob("[0-9][0-9]-*.ipynb"))


def chapter_objects(chapter: str) -> list[Item]:
    """Containers, networks and volumes labelled ``io.labkit.chapter=<chapter>`` (never images), removal order."""
    order = {"container": 1, "network": 2, "volume": 3}
    found = [m for m in docker.managed(include_images=False) if m.chapter == chapter]
    return [Item(m.kind, m.name, m) for m in sorted(found, key=lambda m: order.get(m.kind, 5))]


def _in_git(root: Path, rel: str, run: Runner) -> bool:
    res = run.run(["git", "-C", str(root), "ls-files", "--error-unmatch", rel], timeout=30, check=False, quiet=True)
    return res.ok


def _pristine(root: Path, rel: str, git: bool, run: Runner) -> bytes:
    if git:
        return run.run(["git", "-C", str(root), "show", f"HEAD:{rel}"], timeout=30, quiet=True).stdout.encode()
    name = Path(rel).name
    saved = root / PRISTINE_DIR / name
    return (saved if saved.is_file() else root / rel).read_bytes()


def reset(chapter: str, *, root: Path | None = None, dry_run: bool = False, runner: Runner | None = None,
          objects: bool = True) -> list[str]:
    """Put one chapter back as it was: its notebook(s) restored, what it made in Docker removed. Returns what
    was done (or, with ``dry_run``, what would be).

    * The learner's copy (``workspace/<chapter>.ipynb``, where ``labkit lab`` opens it) and the tracked
      ``notebooks/<chapter>.ipynb``, where either differs from the pristine notebook, are first saved aside to
      ``notebooks/.learner/<chapter>.<timestamp>.ipynb``, then restored: the tracked one with
      ``git checkout -- notebooks/<chapter>.ipynb`` (outside git: from ``notebooks/.pristine/``), the copy
      from the pristine notebook.
    * Containers, networks and volumes labelled ``io.labkit.chapter=<chapter>`` are removed. Images stay
      (``labkit clean --images`` removes those), and so do kind clusters, which later chapters share.
    """
    import time

    root = root or project_root()
    names = chapter_names(root)
    if chapter.endswith(".ipynb"):
        chapter = chapter[:-len(".ipynb")]
    if chapter not in names:
        raise BadInput("chapter", chapter, ", ".join(names) or "(no notebooks found)",
                       fix="name a chapter by its notebook, e.g. `labkit reset 03-network`")
    run = runner or default_runner()
    rel = f"notebooks/{chapter}.ipynb"
    git = _in_git(root, rel, run)
    pristine = _pristine(root, rel, git, run)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    done: list[str] = []
    for path in (root / WORKSPACE / f"{chapter}.ipynb", root / rel):
        if not path.is_file():
            continue
        if path == root / rel and git:
            status = run.run(["git", "-C", str(root), "status", "--porcelain", "--", rel], timeout=30, quiet=True)
            if not status.stdout.strip():
                continue
        elif path.read_bytes() == pristine:
            continue
        where = "your copy" if path.parent.name == WORKSPACE else "the tracked notebook"
        aside = root / LEARNER_DIR / f"{chapter}.{stamp}{'' if where == 'your copy' else '.tracked'}.ipynb"
        done.append(f"save {where} {path.relative_to(root)} as {aside.relative_to(root)}, then restore it")
        if dry_run:
            continue
        aside.parent.mkdir(parents=True, exist_ok=True)
        aside.write_bytes(path.read_bytes())
        if path == root / rel and git:
            run.run(["git", "-C", str(root), "checkout", "--", rel], timeout=60)
        else:
            path.write_bytes(pristine)
    from labkit.errors import DockerUnavailable

    try:
        found = chapter_objects(chapter) if objects else []
    except DockerUnavailable:
        found, objects = [], False
        log("! Docker is not reachable: the notebook is restored, no containers were looked for")
    for item in found:
        done.append(f"remove {item.kind} {item.name} (labelled io.labkit.chapter={chapter})")
        if not dry_run:
            docker.remove(item.ref)  # type: ignore[arg-type]
    for line in done or [f"{chapter} is already as shipped: nothing to restore or remove"]:
        log(("would " if dry_run and done else "") + line)
    clusters = kind_clusters() if objects else []
    if clusters:
        log(f"kept kind cluster(s) {', '.join(clusters)}: chapters share them (`labkit down --name NAME` removes one)")
    return done
