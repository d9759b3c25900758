"""``labkit clean``: remove everything labkit created, found by label or name.

Docker containers, networks, volumes and images carrying ``io.labkit.managed=true``;
kind clusters named ``labkit*``; host state the benchmarks make (veth links,
network namespaces, loop devices), found by their ``lk`` name prefix; and a swarm on
the local daemon, only if labkit initialised it (then ``docker_gwbridge`` too).
DinD swarm nodes are labelled containers, removed with their volumes.

The lab's built images are kept unless asked for (``images=True``, ``labkit clean --images``): a trainer
who pre-built them for an offline room must not lose them to what looks like a reset. The base image
(``debian:bookworm-slim``) is never removed.

:func:`reap` removes only what belonged to labkit processes that are gone (a restarted kernel, a
killed CI job): every object labkit makes records its owner (``io.labkit.owner=host:pid``).
:func:`cluster_plan` removes labkit's namespaces and labelled objects from a cluster labkit did not make.
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit import docker
from labkit.log import log

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
