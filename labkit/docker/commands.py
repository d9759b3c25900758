"""The ``docker`` command lines that do what labkit asks the Docker SDK to do, rendered from the same kwargs.

:class:`~labkit.docker.Scope` prints ``$ docker run …`` before every container it starts. The line is
rendered here from the very arguments given to the SDK's ``containers.create`` — never written by hand —
so typing it makes the same container: the same network mode, mounts, tmpfs, capabilities, limits and
labels (tests/engine/test_exact_commands.py runs the printed line and compares ``docker inspect``).

An SDK option with no ``docker run`` spelling here is not dropped silently: it is listed in
:attr:`Rendered.unrendered` and the printed line ends with a comment naming it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: SDK kwarg -> docker run flag, for options whose value is printed as is.
_SCALAR = {"hostname": "--hostname", "mem_limit": "--memory", "memswap_limit": "--memory-swap",
           "mem_reservation": "--memory-reservation", "cpuset_cpus": "--cpuset-cpus", "cpuset_mems": "--cpuset-mems",
           "cpu_shares": "--cpu-shares", "cpu_period": "--cpu-period", "cpu_quota": "--cpu-quota",
           "pids_limit": "--pids-limit", "user": "--user", "working_dir": "--workdir", "shm_size": "--shm-size",
           "stop_signal": "--stop-signal", "runtime": "--runtime", "ipc_mode": "--ipc", "pid_mode": "--pid",
           "userns_mode": "--userns", "uts_mode": "--uts", "cgroupns": "--cgroupns", "mac_address": "--mac-address",
           "blkio_weight": "--blkio-weight", "oom_score_adj": "--oom-score-adj", "platform": "--platform"}
#: SDK kwarg -> flag, for lists whose items are printed one flag each.
_LISTS = {"cap_add": "--cap-add", "cap_drop": "--cap-drop", "security_opt": "--security-opt", "dns": "--dns",
          "dns_search": "--dns-search", "group_add": "--group-add", "devices": "--device",
          "volumes_from": "--volumes-from"}
#: SDK kwarg -> flag, for booleans (printed only when true).
_FLAGS = {"privileged": "--privileged", "init": "--init", "read_only": "--read-only", "auto_remove": "--rm",
          "tty": "--tty", "stdin_open": "--interactive", "oom_kill_disable": "--oom-kill-disable"}
_BLKIO = {"device_read_bps": "--device-read-bps", "device_write_bps": "--device-write-bps",
          "device_read_iops": "--device-read-iops", "device_write_iops": "--device-write-iops"}


@dataclass
class Rendered:
    """A rendered command: ``argv`` to type, and any SDK options it could not spell."""

    argv: list[str]
    unrendered: dict[str, Any] = field(default_factory=dict)

    def shell(self) -> str:
        """The line to type (with a trailing comment only if some option has no spelling)."""
        text = shlex.join(self.argv)
        if self.unrendered:
            text += "  # not shown: SDK options " + ", ".join(f"{k}={v!r}" for k, v in self.unrendered.items())
        return text


def _label_args(labels: Mapping[str, str] | None) -> list[str]:
    return [a for k, v in (labels or {}).items() for a in ("--label", f"{k}={v}")]


def _cpus(nano: int) -> str:
    return f"{nano / 1e9:g}"


def _binds(volumes: Any) -> list[str]:
    """``-v`` values exactly as the SDK hands them to the daemon (``convert_volume_binds``: mode rw by default)."""
    if isinstance(volumes, (list, tuple)):
        return [str(v) for v in volumes]
    out = []
    for src, spec in volumes.items():
        if isinstance(spec, Mapping):
            mode = ("ro" if spec["ro"] else "rw") if "ro" in spec else spec.get("mode", "rw")
            if spec.get("propagation"):
                mode = f"{mode},{spec['propagation']}" if mode else spec["propagation"]
            out.append(f"{src}:{spec['bind']}:{mode}")
        else:
            out.append(f"{src}:{spec}:rw")
    return out


def _ports(ports: Mapping[str, Any]) -> list[str]:
    out = []
    for inside, outside in ports.items():
        spec = inside if "/" in str(inside) else f"{inside}/tcp"
        for one in outside if isinstance(outside, list) else [outside]:
            if one is None:
                out.append(spec)
            elif isinstance(one, tuple):
                out.append(f"{one[0]}:{one[1] if len(one) > 1 and one[1] is not None else ''}:{spec}")
            else:
                out.append(f"{one}:{spec}")
    return out


def run_argv(image: str, *, name: str | None = None, command: Sequence[str] | str | None = None,
             network: str | None = None, detach: bool = True, **kwargs: Any) -> Rendered:
    """``docker run`` for ``containers.create(image, command, name=, network=, **kwargs)`` + start."""
    argv: list[str] = ["docker", "run"] + (["-d"] if detach else [])
    if name:
        argv += ["--name", name]
    unrendered: dict[str, Any] = {}
    mode = kwargs.pop("network_mode", None)
    if network or mode:
        argv += ["--network", str(network or mode)]
    for key, value in kwargs.items():
        if value is None or value == [] or value == {}:
            continue
        if key in _SCALAR:
            argv += [_SCALAR[key], str(value)]
        elif key in _LISTS:
            argv += [a for item in value for a in (_LISTS[key], str(item))]
        elif key in _FLAGS:
            argv += [_FLAGS[key]] if value else []
        elif key in _BLKIO:
            argv += [a for d in value for a in (_BLKIO[key], f"{d['Path']}:{d['Rate']}")]
        elif key == "nano_cpus":
            argv += ["--cpus", _cpus(int(value))]
        elif key == "volumes":
            argv += [a for b in _binds(value) for a in ("-v", b)]
        elif key == "tmpfs":
            items = value.items() if isinstance(value, Mapping) else ((v, "") for v in value)
            argv += [a for path, opts in items for a in ("--tmpfs", f"{path}:{opts}" if opts else str(path))]
        elif key == "environment":
            items = [f"{k}={v}" for k, v in value.items()] if isinstance(value, Mapping) else list(value)
            argv += [a for item in items for a in ("-e", item)]
        elif key == "ports":
            argv += [a for p in _ports(value) for a in ("-p", p)]
        elif key == "sysctls":
            argv += [a for k, v in value.items() for a in ("--sysctl", f"{k}={v}")]
        elif key == "extra_hosts":
            items = value.items() if isinstance(value, Mapping) else (h.split(":", 1) for h in value)
            argv += [a for host, ip in items for a in ("--add-host", f"{host}:{ip}")]
        elif key == "restart_policy":
            policy = str(value.get("Name", ""))
            retries = value.get("MaximumRetryCount")
            argv += ["--restart", f"{policy}:{retries}" if policy == "on-failure" and retries else policy]
        elif key == "entrypoint" and (isinstance(value, str) or len(value) == 1):
            argv += ["--entrypoint", value if isinstance(value, str) else str(value[0])]
        elif key == "labels":
            continue  # printed last, before the image, so the line reads: what it is, then whose it is
        else:
            unrendered[key] = value
    argv += _label_args(kwargs.get("labels"))
    argv.append(image)
    if command:
        argv += shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
    return Rendered(argv, unrendered)


def network_create_argv(name: str, *, driver: str = "bridge", options: Mapping[str, str] | None = None,
                        subnet: str | None = None, gateway: str | None = None,
                        labels: Mapping[str, str] | None = None, **kwargs: Any) -> Rendered:
    """``docker network create`` for ``networks.create(name, driver=, options=, ipam from subnet/gateway)``."""
    argv = ["docker", "network", "create", "--driver", driver]
    if subnet:
        argv += ["--subnet", subnet]
    if gateway:
        argv += ["--gateway", gateway]
    argv += [a for k, v in (options or {}).items() for a in ("--opt", f"{k}={v}")]
    unrendered = {}
    for key, value in kwargs.items():
        if key in ("internal", "attachable", "ingress") and isinstance(value, bool):
            argv += [f"--{key}"] if value else []
        elif key == "check_duplicate" or value is None:
            continue
        else:
            unrendered[key] = value
    return Rendered(argv + _label_args(labels) + [name], unrendered)


def volume_create_argv(name: str, *, driver: str = "local", driver_opts: Mapping[str, str] | None = None,
                       labels: Mapping[str, str] | None = None) -> Rendered:
    """``docker volume create`` for ``volumes.create(name, driver=, driver_opts=, labels=)``."""
    argv = ["docker", "volume", "create", "--driver", driver]
    argv += [a for k, v in (driver_opts or {}).items() for a in ("--opt", f"{k}={v}")]
    return Rendered(argv + _label_args(labels) + [name])
