"""A container from the inside, on the live engine: namespaces, cgroup limits, overlay layers, the image.

Each function starts what it needs in an :class:`labkit.docker.Scope` (labelled, removed
afterwards) and returns plain data (pandas DataFrames) the chapter shows. Each also has a
``…_commands()`` twin with the docker/shell commands that show the same thing by hand.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any

from labkit import docker

NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")
CHAPTER = "01-engine"


def ready(image: str) -> str:
    """``image``, built first when it is one of the lab's images and missing (``labkit clean --images`` or a
    fresh machine); any other missing image is an :class:`~labkit.errors.ImageMissing` with the fix."""
    from labkit import images

    for name in images.names():
        if images.ref(name) == image:
            return images.ensure(name)
    docker.require_image(image, fix=f"`docker pull {image}` where a registry answers, or pass one of the lab's "
                         "images (`labkit images list`)")
    return image


def namespaces(image: str) -> Any:
    """Which kernel namespaces a container gets: its /proc/self/ns inodes next to the host's (PID 1)."""
    import pandas as pd

    ready(image)
    with docker.Scope() as scope:
        box = scope.container(image, name=f"lk-{scope.session}-ns", network_mode="bridge", role="inside")
        res = docker.exec_in(box, ["sh", "-c", "for n in " + " ".join(NAMESPACES) +
                                   "; do echo $n $(readlink /proc/self/ns/$n); done"], timeout=30)
        inside = dict(line.split(" ", 1) for line in res.stdout.strip().splitlines())
    rows = []
    for ns in NAMESPACES:
        try:
            host = os.readlink(f"/proc/self/ns/{ns}")
        except OSError:
            host = "(not readable here)"
        mine = inside.get(ns, "?")
        rows.append({"namespace": ns, "container": mine, "this notebook's process (host)": host,
                     "own namespace?": "shared with host" if mine == host else "yes, its own"})
    return pd.DataFrame(rows)


def namespaces_commands(image: str) -> list[str]:
    """The same by hand. The container carries the lab's labels, so `labkit reset 01-engine` (or
    `labkit clean`) removes it even if the last line is never typed."""
    run = docker.commands.run_argv(image, name="demo", labels={docker.MANAGED: "true", docker.ROLE: "by-hand",
                                                               docker.CHAPTER: CHAPTER})
    return [run.shell(),
            "docker exec demo ls -l /proc/self/ns        # inside",
            "ls -l /proc/self/ns                         # a host process",
            "docker inspect -f '{{.State.Pid}}' demo     # the container's PID on the host",
            "sudo lsns -p $(docker inspect -f '{{.State.Pid}}' demo)",
            "docker rm -f demo                           # done: remove it"]


LIMITS = {"memory": "64m", "cpus": "0.5", "pids": "64"}


def cgroup_limits(image: str, *, memory: str = LIMITS["memory"], cpus: str = LIMITS["cpus"],
                  pids: str = LIMITS["pids"]) -> Any:
    """``docker run --memory/--cpus/--pids-limit`` → the kernel's cgroup files, read from inside."""
    import pandas as pd

    ready(image)
    with docker.Scope() as scope:
        box = scope.container(image, name=f"lk-{scope.session}-cg", network_mode="none", role="inside",
                              mem_limit=memory, nano_cpus=int(float(cpus) * 1e9), pids_limit=int(pids))
        script = ("if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo v2; "
                  "echo memory $(cat /sys/fs/cgroup/memory.max); echo cpu $(cat /sys/fs/cgroup/cpu.max); "
                  "echo pids $(cat /sys/fs/cgroup/pids.max); else echo v1; "
                  "echo memory $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes); "
                  "echo cpu $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us); "
                  "echo pids $(cat /sys/fs/cgroup/pids/pids.max); fi")
        out = docker.exec_in(box, ["sh", "-c", script], timeout=30).stdout.strip().splitlines()
    version = out[0]
    files = {"v1": {"memory": "memory/memory.limit_in_bytes", "cpu": "cpu/cpu.cfs_quota_us cpu.cfs_period_us",
                    "pids": "pids/pids.max"},
             "v2": {"memory": "memory.max", "cpu": "cpu.max", "pids": "pids.max"}}[version]
    flags = {"memory": f"--memory {memory}", "cpu": f"--cpus {cpus}", "pids": f"--pids-limit {pids}"}
    rows = []
    for line in out[1:]:
        key, value = line.split(" ", 1)
        rows.append({"docker run flag": flags[key], f"cgroup {version} file": "/sys/fs/cgroup/" + files[key],
                     "value inside the container": value})
    return pd.DataFrame(rows)


OVERLAY_SCRIPT = "echo new > /new-file && echo edit >> /etc/issue && rm /etc/debian_version"


def overlay_write(image: str) -> dict[str, Any]:
    """What a write does to the layers: add, change (copy-up) and delete (whiteout) one file each.

    Returns the image's layer count, the container's ``docker diff`` and, where the host's
    Docker root is readable (Linux as root), what landed in the container's upper directory."""
    layers = docker.image_attrs(ready(image)).get("RootFS", {}).get("Layers", [])
    with docker.Scope() as scope:
        box = scope.container(image, name=f"lk-{scope.session}-ov", network_mode="none", role="inside")
        docker.exec_in(box, ["sh", "-c", OVERLAY_SCRIPT], timeout=30)
        diff = docker.diff(box)
        graph = docker.attrs(box).get("GraphDriver", {})
        upper = graph.get("Data", {}).get("UpperDir")
        upper_listing: list[dict[str, Any]] | None = None
        if upper and os.access(upper, os.R_OK):
            upper_listing = []
            for root, _dirs, names in os.walk(upper):
                for n in names:
                    p = Path(root) / n
                    st = p.lstat()
                    whiteout = (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == 0
                    upper_listing.append({"path": "/" + str(p.relative_to(upper)), "bytes": st.st_size,
                                          "kind": "whiteout (deleted below)" if whiteout else "file"})
    from labkit.components.engine.quiz import layer_facts

    kinds = {0: "changed", 1: "added", 2: "deleted"}
    return {"driver": graph.get("Name"), "image_layers": len(layers),
            "docker_diff": [{"kind": kinds.get(d["Kind"], d["Kind"]), "path": d["Path"]} for d in diff or []],
            "upper_dir": upper, "upper_listing": upper_listing, "layer_facts": layer_facts(graph, layers)}


def image_anatomy(image: str) -> dict[str, Any]:
    """``docker save`` the image and read its archive: manifest, config (history, diff_ids), layer sizes."""
    with docker.saved_image(ready(image)) as path:
        with tarfile.open(path) as tar:
            names = tar.getnames()
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
            sizes = {m.name: m.size for m in tar.getmembers() if m.name.endswith("layer.tar") or
                     m.name.startswith("blobs/")}
        archive_bytes = path.stat().st_size
    layers = manifest[0]["Layers"]
    history = [h for h in config.get("history", []) if not h.get("empty_layer")]
    return {"archive_bytes": archive_bytes, "files": names[:20], "oci_layout": "oci-layout" in names,
            "layers": [{"layer": layer, "bytes": sizes.get(layer),
                        "created_by": (str(history[i].get("created_by", ""))[:100] if i < len(history) else "")}
                       for i, layer in enumerate(layers)],
            "diff_ids": config.get("rootfs", {}).get("diff_ids", []),
            "entrypoint": config.get("config", {}).get("Entrypoint"), "cmd": config.get("config", {}).get("Cmd")}


def engine_stack() -> Any:
    """dockerd, containerd and runc versions, and the runtimes dockerd knows: engine ≠ image format."""
    import pandas as pd

    info = docker.info()
    version = docker.version()
    comps = {c.get("Name"): c.get("Version") for c in version.get("Components", [])}
    rows = [{"piece": "dockerd (Docker Engine API server)", "version": version.get("Version")},
            {"piece": "containerd (container lifecycle, images, snapshots)", "version": comps.get("containerd")},
            {"piece": "runc (OCI runtime: creates the namespaces and cgroups)", "version": comps.get("runc")},
            {"piece": "runtimes registered with dockerd", "version": ", ".join(sorted(info.get("Runtimes", {})))},
            {"piece": "storage driver", "version": info.get("Driver")},
            {"piece": "cgroup driver / version",
             "version": f"{info.get('CgroupDriver')} / v{info.get('CgroupVersion')}"}]
    return pd.DataFrame(rows)


def node_containers(node: str) -> str:
    """``crictl ps`` inside a kind node: the same containers, seen by containerd without Docker."""
    from labkit._run import default_runner

    return default_runner().run(["docker", "exec", node, "crictl", "ps"], timeout=60, check=False).stdout
