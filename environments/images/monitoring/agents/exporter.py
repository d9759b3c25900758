"""labkit-container-exporter: labkit's OWN per-container exporter (a stand-in, not cAdvisor).

cAdvisor cannot be had on the engine tier (no registry; not packaged in Debian, PyPI or npm), so labkit
ships this small exporter. It exports a *subset* of cAdvisor's metric names and labels, so the PromQL
learned here runs unchanged against the kubelet's built-in cAdvisor on kind
(names checked against https://github.com/google/cadvisor/blob/v0.60.5/docs/storage/prometheus.md):

* ``container_cpu_usage_seconds_total{cpu="total"}``, ``container_cpu_{user,system}_seconds_total``
* ``container_memory_usage_bytes``, ``container_memory_working_set_bytes`` (usage - inactive_file,
  cAdvisor's definition), ``container_memory_rss``, ``container_memory_cache``,
  ``container_spec_memory_limit_bytes``
* ``container_network_{receive,transmit}_{bytes,packets}_total{interface}`` (``lo`` skipped, as cAdvisor)
* ``container_fs_{reads,writes}_bytes_total{device}``, ``container_fs_{reads,writes}_total{device}``
* ``labkit_container_exporter_*`` about itself; ``labkit_container_exporter_info`` says it is labkit's own.

Labels: ``id`` (cgroup path), ``name``, ``image`` and ``container`` (= name, as the kubelet's cAdvisor
labels it, so ``sum by (container) (...)`` is portable).

The container list and names come from the Docker API (one ``GET /containers/json`` per scrape, over
the socket); the numbers come from cgroup files, v1 (``<controller>/docker/<id>`` or
``<controller>/system.slice/docker-<id>.scope``) or v2 (``system.slice/docker-<id>.scope`` or
``docker/<id>``, detected by ``cgroup.controllers`` at the root), and from ``/proc/<pid>/net/dev`` of any
process of the container (all share its network namespace). Limit (cgroup v1): buffered writes are
charged to the root cgroup at writeback, so only reads and direct I/O show per container.

Run it (least privilege that works on Docker 20.10, cgroup v1)::

    docker run -d --user 65534:65534 --group-add <gid of docker.sock> --cap-drop ALL --read-only \\
      --security-opt no-new-privileges -v /var/run/docker.sock:/var/run/docker.sock:ro \\
      -v /sys/fs/cgroup:/host/cgroup:ro -v /proc:/host/proc:ro IMAGE python3 /opt/labkit/exporter.py

The socket mounted ``:ro`` is still root-equivalent: read-only applies to the socket *file*, not to the
API behind it (a container with it can create and delete containers).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPORTER_NAME = "labkit-container-exporter"
EXPORTER_VERSION = "0.1.0"
DOCKER_API = "v1.41"  # dockerd 20.10
CONTAINER_LABELS = ("id", "name", "image", "container")


@dataclass(frozen=True)
class ContainerRef:
    """One running container as the Docker API lists it."""

    id: str
    name: str
    image: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NetDev:
    rx_bytes: int
    rx_packets: int
    tx_bytes: int
    tx_packets: int


@dataclass(frozen=True)
class BlkIo:
    read_bytes: int = 0
    write_bytes: int = 0
    reads: int = 0
    writes: int = 0


@dataclass
class ContainerStats:
    """One container's numbers at one instant, in base units (seconds, bytes)."""

    cgroup_path: str  # cAdvisor's ``id`` label, e.g. /docker/<id>
    cpu_usage_s: float | None = None
    cpu_user_s: float | None = None
    cpu_system_s: float | None = None
    mem_usage: int | None = None
    mem_working_set: int | None = None
    mem_rss: int | None = None
    mem_cache: int | None = None
    mem_limit: int | None = None  # None: unlimited
    net: dict[str, NetDev] = field(default_factory=dict)
    blkio: dict[str, BlkIo] = field(default_factory=dict)


class SourceError(RuntimeError):
    """A container's numbers could not be read (it may have just exited)."""


# --------------------------------------------------------------------------- Docker API (no SDK)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class DockerAPI:
    """The one Docker Engine API call the exporter needs, over the unix socket."""

    def __init__(self, socket_path: str = "/var/run/docker.sock", timeout: float = 5.0) -> None:
        self.socket_path, self.timeout = socket_path, timeout

    def running(self, label_filter: Iterable[str] = ()) -> list[ContainerRef]:
        labels = list(label_filter)
        query = "?filters=" + urllib.parse.quote(json.dumps({"label": labels})) if labels else ""
        conn = _UnixHTTPConnection(self.socket_path, self.timeout)
        try:
            conn.request("GET", f"/{DOCKER_API}/containers/json{query}")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise SourceError(f"docker API: HTTP {resp.status} {body[:200]!r}")
        return [ContainerRef(c["Id"], (c.get("Names") or ["/"])[0].lstrip("/"), c.get("Image", ""),
                             c.get("Labels") or {}) for c in json.loads(body)]


# --------------------------------------------------------------------------- cgroup and proc files


def read_int(path: Path) -> int | None:
    """A one-number cgroup file; ``max`` (v2: no limit) is None."""
    text = path.read_text().strip()
    return None if text == "max" else int(text)


def read_kv(path: Path) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat)."""
    out: dict[str, int] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def read_net_dev(path: Path) -> dict[str, NetDev]:
    """``/proc/<pid>/net/dev``; ``lo`` is skipped (as cAdvisor does)."""
    out: dict[str, NetDev] = {}
    for line in path.read_text().splitlines()[2:]:
        iface, _, rest = line.partition(":")
        f = rest.split()
        if iface.strip() == "lo" or len(f) < 10:
            continue
        out[iface.strip()] = NetDev(int(f[0]), int(f[1]), int(f[8]), int(f[9]))
    return out


def parse_v1_blkio(service_bytes: str, serviced: str) -> dict[str, BlkIo]:
    """``blkio.throttle.io_service_bytes_recursive`` + ``..._serviced_recursive`` → per ``major:minor``."""
    acc: dict[str, dict[str, int]] = {}
    for text, kind in ((service_bytes, "bytes"), (serviced, "ops")):
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in ("Read", "Write"):
                key = f"{parts[1].lower()}_{kind}"
                d = acc.setdefault(parts[0], {})
                d[key] = d.get(key, 0) + int(parts[2])
    return {dev: BlkIo(v.get("read_bytes", 0), v.get("write_bytes", 0), v.get("read_ops", 0), v.get("write_ops", 0))
            for dev, v in acc.items()}


def parse_v2_io_stat(text: str) -> dict[str, BlkIo]:
    """cgroup v2 ``io.stat``: ``8:0 rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..`` per device."""
    out: dict[str, BlkIo] = {}
    for line in text.splitlines():
        majmin, *pairs = line.split()
        kv = {k: int(v) for k, v in (p.split("=", 1) for p in pairs if "=" in p)}
        out[majmin] = BlkIo(kv.get("rbytes", 0), kv.get("wbytes", 0), kv.get("rios", 0), kv.get("wios", 0))
    return out


class DeviceNames:
    """``major:minor`` → ``/dev/<name>`` through ``/sys/dev/block/M:m/uevent`` (cAdvisor's ``device``)."""

    def __init__(self, sys_root: Path = Path("/sys")) -> None:
        self.sys_root = sys_root
        self._cache: dict[str, str] = {}

    def __call__(self, majmin: str) -> str:
        if majmin not in self._cache:
            name = majmin
            try:
                for line in (self.sys_root / "dev/block" / majmin / "uevent").read_text().splitlines():
                    if line.startswith("DEVNAME="):
                        name = "/dev/" + line.split("=", 1)[1]
            except OSError:
                pass
            self._cache[majmin] = name
        return self._cache[majmin]


class CgroupSource:
    """A container's numbers from the cgroup filesystem (v1 or v2) and ``/proc/<pid>/net/dev``."""

    def __init__(self, cgroup_root: Path, proc_root: Path, devices: DeviceNames | None = None) -> None:
        self.root, self.proc = cgroup_root, proc_root
        self.devices = devices or DeviceNames()
        self.version = 2 if (cgroup_root / "cgroup.controllers").exists() else 1

    def read(self, ref: ContainerRef) -> ContainerStats:
        try:
            return self._read_v2(ref.id) if self.version == 2 else self._read_v1(ref.id)
        except (OSError, ValueError, KeyError) as exc:
            raise SourceError(f"{ref.name}: {exc}") from exc

    def _dir(self, cid: str, controller: str = "") -> tuple[Path, str]:
        # cgroupfs driver: docker/<id>; systemd driver: system.slice/docker-<id>.scope
        for rel in (f"docker/{cid}", f"system.slice/docker-{cid}.scope"):
            d = self.root / controller / rel if controller else self.root / rel
            if d.is_dir():
                return d, "/" + rel
        raise SourceError(f"no cgroup{' ' + controller if controller else ''} directory for {cid[:12]} under "
                          f"{self.root} (exited?)")

    def _read_v1(self, cid: str) -> ContainerStats:
        cpu, path = self._dir(cid, "cpuacct")
        mem, _ = self._dir(cid, "memory")
        blk, _ = self._dir(cid, "blkio")
        st = ContainerStats(cgroup_path=path)
        st.cpu_usage_s = (read_int(cpu / "cpuacct.usage") or 0) / 1e9
        if (cpu / "cpuacct.usage_user").exists():
            st.cpu_user_s = (read_int(cpu / "cpuacct.usage_user") or 0) / 1e9
            st.cpu_system_s = (read_int(cpu / "cpuacct.usage_sys") or 0) / 1e9
        ms = read_kv(mem / "memory.stat")
        st.mem_usage = read_int(mem / "memory.usage_in_bytes") or 0
        st.mem_working_set = max(0, st.mem_usage - ms.get("total_inactive_file", 0))
        st.mem_rss, st.mem_cache = ms.get("total_rss"), ms.get("total_cache")
        limit = read_int(mem / "memory.limit_in_bytes")
        st.mem_limit = limit if limit is not None and limit < 2**62 else None  # v1 "no limit" is a huge number
        st.blkio = self._named(parse_v1_blkio((blk / "blkio.throttle.io_service_bytes_recursive").read_text(),
                                              (blk / "blkio.throttle.io_serviced_recursive").read_text()))
        st.net = self._net(cpu / "cgroup.procs")
        return st

    def _read_v2(self, cid: str) -> ContainerStats:
        d, path = self._dir(cid)
        st = ContainerStats(cgroup_path=path)
        cs = read_kv(d / "cpu.stat")
        st.cpu_usage_s = cs["usage_usec"] / 1e6
        st.cpu_user_s, st.cpu_system_s = cs.get("user_usec", 0) / 1e6, cs.get("system_usec", 0) / 1e6
        ms = read_kv(d / "memory.stat")
        st.mem_usage = read_int(d / "memory.current") or 0
        st.mem_working_set = max(0, st.mem_usage - ms.get("inactive_file", 0))
        st.mem_rss, st.mem_cache = ms.get("anon"), ms.get("file")
        st.mem_limit = read_int(d / "memory.max")
        if (d / "io.stat").exists():
            st.blkio = self._named(parse_v2_io_stat((d / "io.stat").read_text()))
        st.net = self._net(d / "cgroup.procs")
        return st

    def _named(self, by_majmin: dict[str, BlkIo]) -> dict[str, BlkIo]:
        return {self.devices(k): v for k, v in by_majmin.items()}

    def _net(self, procs: Path) -> dict[str, NetDev]:
        for pid in procs.read_text().split():  # every process of the container shares its network namespace
            try:
                return read_net_dev(self.proc / pid / "net/dev")
            except OSError:
                continue
        return {}


# --------------------------------------------------------------------------- exposition


def families(pairs: Iterable[tuple[ContainerRef, ContainerStats]]) -> list[Any]:
    """(container, stats) pairs → prometheus-client metric families with cAdvisor's names."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    fams: dict[str, Any] = {}

    def add(name: str, counter: bool, doc: str, labels: list[str], values: list[str], v: float | None) -> None:
        if v is None:
            return
        if name not in fams:
            fams[name] = (CounterMetricFamily if counter else GaugeMetricFamily)(name, doc, labels=labels)
        fams[name].add_metric(values, v)

    base = list(CONTAINER_LABELS)
    for ref, st in pairs:
        lv = [st.cgroup_path, ref.name, ref.image, ref.name]
        add("container_cpu_usage_seconds_total", True, "Cumulative cpu time consumed in seconds.",
            [*base, "cpu"], [*lv, "total"], st.cpu_usage_s)
        add("container_cpu_user_seconds_total", True, "Cumulative user cpu time consumed in seconds.", base, lv,
            st.cpu_user_s)
        add("container_cpu_system_seconds_total", True, "Cumulative system cpu time consumed in seconds.", base, lv,
            st.cpu_system_s)
        add("container_memory_usage_bytes", False, "Current memory usage in bytes, including all memory.", base, lv,
            st.mem_usage)
        add("container_memory_working_set_bytes", False, "Current working set in bytes (usage - inactive_file).",
            base, lv, st.mem_working_set)
        add("container_memory_rss", False, "Size of RSS in bytes.", base, lv, st.mem_rss)
        add("container_memory_cache", False, "Number of bytes of page cache memory.", base, lv, st.mem_cache)
        add("container_spec_memory_limit_bytes", False, "Memory limit for the container.", base, lv, st.mem_limit)
        for iface, n in sorted(st.net.items()):
            il, iv = [*base, "interface"], [*lv, iface]
            add("container_network_receive_bytes_total", True, "Cumulative count of bytes received", il, iv,
                n.rx_bytes)
            add("container_network_receive_packets_total", True, "Cumulative count of packets received", il, iv,
                n.rx_packets)
            add("container_network_transmit_bytes_total", True, "Cumulative count of bytes transmitted", il, iv,
                n.tx_bytes)
            add("container_network_transmit_packets_total", True, "Cumulative count of packets transmitted", il,
                iv, n.tx_packets)
        for dev, b in sorted(st.blkio.items()):
            dl, dv = [*base, "device"], [*lv, dev]
            add("container_fs_reads_bytes_total", True, "Cumulative count of bytes read", dl, dv, b.read_bytes)
            add("container_fs_writes_bytes_total", True, "Cumulative count of bytes written", dl, dv, b.write_bytes)
            add("container_fs_reads_total", True, "Cumulative count of reads completed", dl, dv, b.reads)
            add("container_fs_writes_total", True, "Cumulative count of writes completed", dl, dv, b.writes)
    return list(fams.values())


class ContainerCollector:
    """A prometheus-client collector: lists the containers and reads each one's numbers at scrape time."""

    def __init__(self, api: DockerAPI, source: CgroupSource, label_filter: Iterable[str] = ()) -> None:
        self.api, self.source, self.label_filter = api, source, list(label_filter)
        self.errors = 0

    def describe(self) -> list[Any]:
        return []  # families vary per scrape: do not let the registry call collect() at register time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        t0 = time.perf_counter()
        up = 1
        try:
            refs = self.api.running(self.label_filter)
        except (OSError, SourceError, ValueError):
            refs, up = [], 0
            self.errors += 1
        pairs = []
        for ref in refs:
            try:
                pairs.append((ref, self.source.read(ref)))
            except SourceError:
                self.errors += 1  # exited between list and read: skipped, counted
        yield from families(pairs)
        info = GaugeMetricFamily("labkit_container_exporter_info", "labkit's own container exporter (not cAdvisor).",
                                 labels=["version", "cgroup_version"])
        info.add_metric([EXPORTER_VERSION, str(self.source.version)], 1)
        yield info
        yield GaugeMetricFamily("labkit_container_exporter_docker_up", "1 if the Docker API answered.", value=up)
        yield GaugeMetricFamily("labkit_container_exporter_containers", "Containers read in this scrape.",
                                value=len(pairs))
        yield CounterMetricFamily("labkit_container_exporter_read_errors_total",
                                  "Containers that could not be read (exited mid-scrape, API errors).",
                                  value=self.errors)
        yield GaugeMetricFamily("labkit_container_exporter_collect_seconds", "Time this collect took.",
                                value=time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    from prometheus_client import REGISTRY, start_http_server

    p = argparse.ArgumentParser(prog=EXPORTER_NAME, description=(__doc__ or "").splitlines()[0])
    p.add_argument("--port", type=int, default=9338)
    p.add_argument("--docker-socket", default="/var/run/docker.sock")
    p.add_argument("--cgroup-root", type=Path, default=Path("/host/cgroup"))
    p.add_argument("--proc-root", type=Path, default=Path("/host/proc"))
    p.add_argument("--label-filter", action="append", default=[],
                   help="only containers with this Docker label (key or key=value); repeatable")
    a = p.parse_args(argv)
    REGISTRY.register(ContainerCollector(DockerAPI(a.docker_socket), CgroupSource(a.cgroup_root, a.proc_root),
                                         a.label_filter))
    start_http_server(a.port)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
