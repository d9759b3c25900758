"""Each part of the engine-tier stack as data: image, command, user, mounts, ports, labels, config files.

``container(spec, part, ...)`` returns what :func:`labkit.docker.create` gets, so the chapter can show it
as the ``docker run`` line a learner could type (:func:`docker_run_line`). Least privilege, part by part:
every part runs as a non-root user; labkit's Python parts also drop all capabilities and run read-only.
Two parts mount the Docker socket read-only (Prometheus for docker_sd, labkit's exporter for container
names). ``:ro`` makes the socket *file* read-only, not the API behind it: whoever can connect to it can
create and delete containers, so it is root-equivalent. A GET-only socket proxy would be the fix; none is
packaged here.
"""

from __future__ import annotations

import io
import os
import shlex
import tarfile
import time
from collections.abc import Mapping
from typing import Any

from labkit.components.monitoring import images
from labkit.components.monitoring.configs import CONFIG_DIR, RUN_LABEL
from labkit.components.monitoring.spec import PORTS, STACK, StackSpec, scrape_labels

SOCKET = "/var/run/docker.sock"
#: The job each scraped part gets (docker_sd relabels io.labkit.job into `job`).
JOBS = {"alertmanager": "alertmanager", "blackbox": "blackbox-exporter", "node-exporter": "node",
        "container-exporter": "labkit-container-exporter", "demo": "demo"}


def socket_path() -> str:
    """The daemon's socket on the daemon's host (``DOCKER_HOST=unix://…``, else the default path)."""
    host = os.environ.get("DOCKER_HOST", "")
    return host[len("unix://"):] if host.startswith("unix://") else SOCKET


def socket_gid() -> str:
    """The socket's group, so the parts that read it need no root (0 when it cannot be read here)."""
    try:
        return str(os.stat(socket_path()).st_gid)
    except OSError:
        return "0"


def files_for(part: str, rendered: Mapping[str, bytes]) -> dict[str, bytes]:
    """The config files a part reads, as ``{path inside the container: bytes}``."""
    own = ("alertmanager.yml", "blackbox.yml")
    wanted = {"prometheus": [n for n in rendered if n.endswith(".yml") and n not in own],
              "alertmanager": ["alertmanager.yml"], "blackbox": ["blackbox.yml"]}.get(part, [])
    return {f"{CONFIG_DIR.lstrip('/')}/{n}": rendered[n] for n in wanted if n in rendered}


def tar_of(files: Mapping[str, bytes]) -> io.BytesIO:
    """An in-memory tar of ``{relative path: bytes}`` (directories 0755, files 0644) for put_archive."""
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in sorted({os.path.dirname(p) for p in files if os.path.dirname(p)}):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def _scraped(spec: StackSpec, part: str, port: int) -> dict[str, str]:
    return scrape_labels(spec.name, port, JOBS[part], target_labels={RUN_LABEL: spec.token})


def container(spec: StackSpec, part: str, *, labels: Mapping[str, str], host_port: int | None = None) -> dict[str, Any]:
    """Keyword arguments for :func:`labkit.docker.create` (image, command, name, …) of one part."""
    sock = {socket_path(): {"bind": SOCKET, "mode": "ro"}}
    port = PORTS[part]
    kw: dict[str, Any] = {"image": images.of(part), "name": spec.host(part), "hostname": spec.host(part),
                          "network": spec.network, "labels": {**labels, STACK: spec.name}}
    python_least = {"user": "65534:65534", "cap_drop": ["ALL"], "read_only": True,
                    "security_opt": ["no-new-privileges"]}
    if part == "prometheus":
        kw.update(entrypoint=["/usr/bin/prometheus"], user="prometheus", group_add=[socket_gid()], volumes=sock,
                  command=[f"--config.file={CONFIG_DIR}/prometheus.yml",
                           "--storage.tsdb.path=/var/lib/prometheus/metrics2",
                           f"--storage.tsdb.retention.time={spec.retention}", "--web.listen-address=:9090",
                           "--web.enable-lifecycle",  # POST /-/reload re-reads the rules (127.0.0.1 only)
                           "--web.console.templates=/etc/prometheus/consoles",
                           "--web.console.libraries=/etc/prometheus/console_libraries", *spec.prometheus_args])
    elif part == "alertmanager":
        kw.update(entrypoint=["/usr/bin/prometheus-alertmanager"], user="prometheus",
                  command=[f"--config.file={CONFIG_DIR}/alertmanager.yml",
                           "--storage.path=/var/lib/prometheus/alertmanager", "--web.listen-address=:9093",
                           "--cluster.listen-address="])  # empty: no HA gossip port (one Alertmanager)
    elif part == "blackbox":
        kw.update(entrypoint=["/usr/bin/prometheus-blackbox-exporter"], user="prometheus",
                  command=[f"--config.file={CONFIG_DIR}/blackbox.yml", "--web.listen-address=:9115"])
    elif part == "node-exporter":
        # NOT rslave: Docker refuses it here ("path / is mounted on / but it is not a shared or slave mount")
        kw.update(entrypoint=["/usr/bin/prometheus-node-exporter"], user="prometheus",
                  volumes={"/": {"bind": "/host", "mode": "ro"}},
                  command=["--path.rootfs=/host", "--path.procfs=/host/proc", "--path.sysfs=/host/sys",
                           "--no-collector.systemd", "--web.listen-address=:9100"])
    elif part == "container-exporter":
        kw.update(python_least, group_add=[socket_gid()],
                  volumes={**sock, "/sys/fs/cgroup": {"bind": "/host/cgroup", "mode": "ro"},
                           "/proc": {"bind": "/host/proc", "mode": "ro"}},
                  command=["python3", "/opt/labkit/exporter.py", "--port", str(port),
                           "--label-filter", f"{STACK}={spec.name}"])
    elif part == "receiver":
        kw.update(python_least, tmpfs={"/data": "size=16m,uid=65534"},
                  command=["python3", "/opt/labkit/receiver.py", "--port", str(port), "--out", "/data/alerts.jsonl"])
    elif part == "demo":
        kw.update(python_least, command=["python3", "/opt/labkit/demo_app.py"],
                  environment={"LABKIT_RUN_TOKEN": spec.token, "PORT": str(port)})
    else:
        raise KeyError(part)
    if part in JOBS:
        scrape_port = spec.demo_port_label if part == "demo" and spec.demo_port_label else port
        kw["labels"].update(_scraped(spec, part, scrape_port))
    if host_port is not None:
        kw["ports"] = {f"{port}/tcp": ("127.0.0.1", host_port or None)}
    return kw


def docker_run_line(kw: Mapping[str, Any]) -> str:
    """The ``docker run`` a learner would type for these arguments (configs go in with ``docker cp``)."""
    out = ["docker", "run", "-d", "--name", kw["name"], "--network", kw["network"]]
    if "user" in kw:
        out += ["--user", kw["user"]]
    for g in kw.get("group_add", []):
        out += ["--group-add", g]
    for c in kw.get("cap_drop", []):
        out += ["--cap-drop", c]
    if kw.get("read_only"):
        out.append("--read-only")
    for s in kw.get("security_opt", []):
        out += ["--security-opt", s]
    for path, opts in kw.get("tmpfs", {}).items():
        out += ["--tmpfs", f"{path}:{opts}"]
    for src, m in kw.get("volumes", {}).items():
        out += ["-v", f"{src}:{m['bind']}:{m['mode']}"]
    for cport, (ip, hport) in kw.get("ports", {}).items():
        out += ["-p", f"{ip}:{hport or ''}:{cport.split('/')[0]}"]
    for k, v in kw.get("environment", {}).items():
        out += ["-e", f"{k}={v}"]
    for k, v in kw["labels"].items():
        if k.startswith(("io.labkit.scrape", "io.labkit.job", "io.labkit.label.")):
            out += ["--label", f"{k}={v}"]
    if "entrypoint" in kw:
        out += ["--entrypoint", kw["entrypoint"][0]]
    return shlex.join([*out, kw["image"], *kw["command"]])
