"""``labkit clean``: remove everything labkit created, found by label or name.

Docker containers, networks, volumes and images carrying ``io.labkit.managed=true``;
kind clusters named ``labkit*``; host state the benchmarks make (veth links,
network namespaces, loop devices), found by their ``lk`` name prefix; and a swarm on
the local daemon, only if labkit initialised it (then ``docker_gwbridge`` too).
DinD swarm nodes are labelled containers, removed with their volumes.
The base image (``debian:bookworm-slim``) is kept: it is shared and costly to rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit import engine
from labkit.log import log

KIND_PREFIX = "labkit"


@dataclass(frozen=True)
class Item:
    kind: str
    name: str
    ref: object


def find(*, images: bool = True) -> list[Item]:
    """Everything ``clean`` would remove, in removal order."""
    items = [Item(m.kind, m.name, m) for m in engine.managed(include_images=images)]
    items += [Item("kind cluster", name, name) for name in kind_clusters()]
    from labkit.bench import hoststate

    items += [Item(h.kind, h.name, h) for h in hoststate.find()]
    from labkit import swarm

    items += [Item(s.kind, s.name, s) for s in swarm.leftovers()]
    # Leave the swarm before removing containers (its tasks would be restarted) and networks (its overlays).
    order = {"kind cluster": 0, "swarm": 0.5, "container": 1, "network": 2, "volume": 3, "image": 4}
    return sorted(items, key=lambda i: order.get(i.kind, 5))


def kind_clusters() -> list[str]:
    """kind clusters whose name starts with ``labkit`` (from their node containers' labels)."""
    names = set()
    flt = {"label": "io.x-k8s.kind.cluster"}
    for c in engine.client().containers.list(all=True, filters=flt):
        name = c.labels.get("io.x-k8s.kind.cluster", "")
        if name.startswith(KIND_PREFIX):
            names.add(name)
    return sorted(names)


def _delete_kind_cluster(name: str) -> None:
    from labkit import tools
    from labkit._run import run

    from labkit.cluster import kubeconfig_path, saved_config_path

    path = tools.locate("kind")
    if path:
        run([path, "delete", "cluster", "--name", name], timeout=300)
    else:
        flt = {"label": f"io.x-k8s.kind.cluster={name}"}
        for c in engine.client().containers.list(all=True, filters=flt):
            c.remove(force=True, v=True)
    for leftover in (kubeconfig_path(name), saved_config_path(name)):
        leftover.unlink(missing_ok=True)


def clean(*, dry_run: bool = False, images: bool = True) -> list[Item]:
    """Remove (or with ``dry_run`` only list) everything labkit created. Returns the items."""
    from labkit import swarm
    from labkit.bench import hoststate

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
        elif isinstance(item.ref, engine.Managed):
            engine.remove(item.ref)
        elif isinstance(item.ref, swarm.Leftover):
            swarm.remove_leftover(item.ref)
        else:
            hoststate.remove(item.ref)  # type: ignore[arg-type]
    return items
