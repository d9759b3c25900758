"""Live values chapter 01's questions are checked against, and the overlay picture of a running container.

* :func:`quiz_container` starts (or finds) ``lk-quiz-01``, a labelled container with a memory limit the
  learner must look up; it stays until ``labkit reset 01-engine`` (or ``labkit clean``) removes it.
* :func:`memory_limit` reads what the kernel enforces (the cgroup file, read inside the container) and
  :func:`docker_memory_limit` what Docker asked for (``docker inspect``: ``HostConfig.Memory``).
* :func:`chapter_volumes` finds the volumes a learner labelled for a chapter and the files in them.
* :func:`overlay_diagram` draws the layers of the container :func:`~labkit.components.engine.inside.overlay_write`
  wrote into, from ``docker inspect`` (GraphDriver) and ``docker image inspect`` (RootFS layers).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from labkit import docker, log as logging
from labkit.diagrams import Arrow, Box, Diagram

QUIZ_CONTAINER = "lk-quiz-01"
QUIZ_ROLE = "quiz"
CHAPTER = "01-engine"
MEMORY_CHOICES_MIB = (48, 80, 96, 112, 144, 176)  # one is picked when the container is made: look it up


def quiz_container(image: str, *, name: str = QUIZ_CONTAINER) -> str:
    """``name``, started if it does not run yet (re-running the cell keeps the same one, and its limit)."""
    from labkit.components.engine.inside import ready

    box = docker.container(name)
    if box is not None and docker.is_running(box):
        return name
    if box is not None:
        docker.remove_container(box)
    ready(image)
    mib = random.choice(MEMORY_CHOICES_MIB)
    was = bool(getattr(logging, "_quiet", False))
    logging.set_quiet(True)  # the `docker run` line would give the answer away
    try:
        with docker.Scope(keep=True, owned=False) as scope:  # it outlives the cell: the reset removes it
            scope.container(image, name=name, command=["sleep", "infinity"], role=QUIZ_ROLE, network_mode="none",
                            mem_limit=f"{mib}m", labels={docker.CHAPTER: CHAPTER})
    finally:
        logging.set_quiet(was)
    logging.log(f"started {name} (labelled io.labkit.chapter={CHAPTER}; its memory limit is for you to find)")
    return name


def _box(name: str) -> Any:
    from labkit.errors import LabkitError

    box = docker.container(name)
    if box is None:
        raise LabkitError(f"no container called {name}", fix="run the question's cell again: it starts it")
    return box


def docker_memory_limit(name: str) -> int:
    """What ``docker run --memory`` asked for: ``docker inspect -f '{{.HostConfig.Memory}}' NAME`` (bytes)."""
    return int(docker.attrs(_box(name)).get("HostConfig", {}).get("Memory") or 0)


MEMORY_FILE_SCRIPT = ("if [ -f /sys/fs/cgroup/memory.max ]; then cat /sys/fs/cgroup/memory.max; "
                      "else cat /sys/fs/cgroup/memory/memory.limit_in_bytes; fi")


def memory_limit(name: str) -> int:
    """What the kernel enforces: the container's cgroup memory limit in bytes, read from inside it."""
    out = docker.exec_in(_box(name), ["sh", "-c", MEMORY_FILE_SCRIPT], timeout=30).stdout.strip()
    return int(out) if out.isdigit() else 0


def image_layer_count(image: str) -> int:
    """How many layers ``image`` has: ``docker image inspect -f '{{len .RootFS.Layers}}' IMAGE``."""
    return len(docker.image_attrs(image).get("RootFS", {}).get("Layers", []))


def chapter_volumes(chapter: str = CHAPTER) -> list[tuple[str, list[str]]]:
    """Volumes labelled ``io.labkit.managed=true`` and ``io.labkit.chapter=<chapter>``, each with the files in it
    (read through a throwaway container that mounts it read-only)."""
    from labkit.versions import tools_image

    found = [m for m in docker.managed(include_images=False) if m.kind == "volume" and m.chapter == chapter]
    out: list[tuple[str, list[str]]] = []
    for vol in found:
        with docker.Scope() as scope:
            box = scope.container(tools_image(), name=f"lk-{scope.session}-look", command=["sleep", "60"],
                                  role="quiz-check", network_mode="none",
                                  volumes={vol.name: {"bind": "/v", "mode": "ro"}})
            res = docker.exec_in(box, ["find", "/v", "-type", "f"], timeout=30)
        out.append((vol.name, [p[len("/v"):] for p in res.stdout.split()]))
    return out


# --- the overlay layers of a running container ------------------------------------------------------------------
def _dir_bytes(path: str) -> int | None:
    if not path or not os.access(path, os.R_OK):
        return None
    total = 0
    for root, _dirs, names in os.walk(path):
        for n in names:
            try:
                total += (Path(root) / n).lstat().st_size
            except OSError:
                continue
    return total


def layer_facts(graph: dict[str, Any], diff_ids: list[str]) -> dict[str, Any]:
    """From ``docker inspect``'s GraphDriver.Data and the image's RootFS layers: the container's upper dir, its
    init layer and the image layers (top first) with their directory and, where readable, their bytes."""
    data = graph.get("Data") or {}
    lower = [p for p in str(data.get("LowerDir") or "").split(":") if p]
    init = lower[0] if lower and lower[0].endswith("-init/diff") else ""
    image_dirs = lower[1:] if init else lower
    top_first = list(reversed(diff_ids))
    layers = [{"diff_id": top_first[i] if i < len(top_first) else "", "dir": d, "bytes": _dir_bytes(d)}
              for i, d in enumerate(image_dirs)]
    return {"driver": graph.get("Name", ""), "upper": data.get("UpperDir", ""), "merged": data.get("MergedDir", ""),
            "init": init, "layers": layers}


def _size(n: int | None) -> str:
    from labkit.units import fmt

    return "size not readable here" if n is None else fmt(n, "B")


def overlay_diagram(ov: dict[str, Any], *, image: str = "") -> Diagram:
    """The container's filesystem as overlayfs stacks it: the merged view, the writable upper layer (with what
    the script did), Docker's init layer, and the image's read-only layers, from the live ``docker inspect``."""
    facts = ov.get("layer_facts") or {}
    changes = {d["path"]: d["kind"] for d in ov.get("docker_diff") or []}
    leaves = [p for p in sorted(changes) if not any(q.startswith(p + "/") for q in changes)]  # not /etc itself
    note = {"added": "added", "changed": "copied up, changed", "deleted": "whiteout: deleted"}
    did = [f"{note.get(changes[p], changes[p])} {p}" for p in leaves]
    boxes = [Box("merged", "what the process sees: /", f"overlay mount (driver {facts.get('driver') or '?'}): "
                 "upper over lower, merged", "pod"),
             Box("upper", "writable layer (UpperDir)", "\n".join(did[:3]) or "no changes", "new")]
    if facts.get("init"):
        boxes.append(Box("init", "init layer (read-only)", "Docker's /etc/hosts, /etc/resolv.conf, /etc/hostname "
                         "placeholders", "kernel"))
    layers = facts.get("layers") or []
    for i, layer in enumerate(layers):
        digest = str(layer.get("diff_id") or "")
        short = digest.split(":", 1)[-1][:12] if digest else "?"
        boxes.append(Box(f"layer{i}", f"image layer {len(layers) - i} of {len(layers)}",
                         f"sha256:{short}… · {_size(layer.get('bytes'))}", "plain"))
    labels = ["upper first"] + ["then"] * (len(boxes) - 2)
    caption = (f"{image + ': ' if image else ''}a read is served by the topmost layer that has the file. The script "
               "added a file (it lands in the upper layer), changed /etc/issue (copied up whole, then edited) and "
               "deleted /etc/debian_version (a whiteout in the upper layer hides the lower copy). The image layers "
               "never change: every container of this image shares them.")
    arrows = [Arrow(a.key, b.key, labels[i] if i < len(labels) else "") for i, (a, b) in
              enumerate(zip(boxes, boxes[1:], strict=False))]
    return Diagram("The layers of one running container", [boxes], arrows, caption=caption,
                   legend=(("pod", "the merged view"), ("new", "written by the container"),
                           ("kernel", "Docker's init layer"), ("plain", "the image's read-only layers")))
