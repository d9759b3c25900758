"""Docker's log drivers as data: what ``docker run --log-driver/--log-opt`` gets, checked before Docker sees it.

A :class:`LogConfig` is one ``HostConfig.LogConfig``: the same value as SDK dict (``.sdk()``) or as the CLI
flags a learner types (``.cli()``). The builders (:func:`json_file`, :func:`local`, :func:`syslog`,
:func:`journald`) refuse what dockerd 20.10.24 would refuse, naming what is allowed; the option lists are
the drivers' own ``ValidateLogOpt`` at that tag (sources in :data:`SOURCES`).

>>> syslog("tcp://127.0.0.1:5140", label_keys=["app"]).cli()[:4]
['--log-driver', 'syslog', '--log-opt', 'mode=blocking']
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.errors import BadInput, Unavailable

MOBY = "https://github.com/moby/moby/blob/v20.10.24"
MODES = ("blocking", "non-blocking")
#: Options dockerd takes for every driver: the delivery mode and the dual-logging cache.
COMMON = frozenset({"mode", "max-buffer-size", "cache-disabled", "cache-max-size", "cache-max-file",
                    "cache-compress"})
#: Each driver's own options, as its ValidateLogOpt lists them at dockerd v20.10.24.
DRIVER_OPTIONS: dict[str, frozenset[str]] = {
    "json-file": frozenset({"max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex",
                            "tag"}),
    "local": frozenset({"max-file", "max-size", "compress"}),
    "syslog": frozenset({"env", "env-regex", "labels", "labels-regex", "syslog-address", "syslog-facility",
                         "syslog-tls-ca-cert", "syslog-tls-cert", "syslog-tls-key", "syslog-tls-skip-verify",
                         "tag", "syslog-format"}),
    "journald": frozenset({"labels", "labels-regex", "env", "env-regex", "tag"}),
    "none": frozenset(),
}
SOURCES = {
    "json-file": f"{MOBY}/daemon/logger/jsonfilelog/jsonfilelog.go#L151-L166",
    "local": f"{MOBY}/daemon/logger/local/local.go#L33-L47",
    "syslog": f"{MOBY}/daemon/logger/syslog/syslog.go#L190-L219",
    "journald": f"{MOBY}/daemon/logger/journald/journald.go#L89-L101",
    "common": f"{MOBY}/daemon/logger/factory.go#L127-L160",
    "ring": f"{MOBY}/daemon/logger/ring.go#L166-L184",
    "cache": f"{MOBY}/daemon/logger/loggerutils/cache/local_cache.go#L72-L80",
}
SYSLOG_FORMATS = ("", "rfc3164", "rfc5424", "rfc5424micro")
SYSLOG_PROTOCOLS = ("tcp", "udp", "tcp+tls", "unix", "unixgram")
JOURNAL_SOCKET = Path("/run/systemd/journal/socket")


@dataclass(frozen=True)
class LogConfig:
    """A container's log driver and its options (``--log-driver`` / ``--log-opt``)."""

    driver: str
    options: Mapping[str, str] = field(default_factory=dict)

    def sdk(self) -> dict[str, Any]:
        """The ``log_config`` the Docker SDK takes."""
        return {"Type": self.driver, "Config": dict(self.options)}

    def cli(self) -> list[str]:
        """The same as ``docker run`` flags."""
        out = ["--log-driver", self.driver]
        for k, v in self.options.items():
            out += ["--log-opt", f"{k}={v}"]
        return out

    @property
    def mode(self) -> str:
        return self.options.get("mode", "blocking")

    def describe(self) -> str:
        buf = self.options.get("max-buffer-size")
        return f"{self.driver}, {self.mode}" + (f" (ring {buf})" if buf else "")


def parse_size(text: str) -> int:
    """A size as dockerd reads ``max-size``/``max-buffer-size`` (go-units RAMInBytes: k, m, g are 1024-based)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*", str(text).lower())
    if not m:
        raise BadInput("size", text, "a number with an optional k, m or g (1024-based), e.g. 10m or 64k")
    return int(float(m[1]) * 1024 ** "_kmgtp".index(m[2] or "_"))


def check(cfg: LogConfig) -> LogConfig:
    """Refuse, naming the allowed values, what dockerd 20.10.24 would refuse (:class:`BadInput`)."""
    if cfg.driver not in DRIVER_OPTIONS:
        raise BadInput("log driver", cfg.driver, ", ".join(DRIVER_OPTIONS) + " (plus gelf, fluentd, splunk, "
                       "awslogs, gcplogs, logentries, etwlogs: compiled in but not used by labkit)",
                       fix=f"dockerd would say: error looking up logging plugin {cfg.driver}")
    allowed = DRIVER_OPTIONS[cfg.driver] | COMMON
    for key in cfg.options:
        if key not in allowed:
            raise BadInput(f"{cfg.driver} log option", key, ", ".join(sorted(allowed)),
                           fix=f"dockerd would say: unknown log opt '{key}' for {cfg.driver} log driver "
                               f"({SOURCES.get(cfg.driver, SOURCES['common'])})")
    mode = cfg.options.get("mode", "")
    if mode not in ("", *MODES):
        raise BadInput("log mode", mode, ", ".join(MODES), fix="dockerd: logger: logging mode not supported")
    if "max-buffer-size" in cfg.options:
        if mode != "non-blocking":
            raise BadInput("max-buffer-size with mode", mode or "blocking", "mode=non-blocking only",
                           fix="the ring buffer exists only in non-blocking mode; drop max-buffer-size or set "
                               f"mode=non-blocking ({SOURCES['common']})")
        parse_size(cfg.options["max-buffer-size"])
    for key in ("max-size", "cache-max-size"):
        if key in cfg.options:
            parse_size(cfg.options[key])
    for key in ("max-file", "cache-max-file"):
        if key in cfg.options and not (str(cfg.options[key]).isdigit() and int(cfg.options[key]) >= 1):
            raise BadInput(key, cfg.options[key], "a whole number, 1 or more")
    if cfg.driver == "syslog":
        _check_syslog(cfg.options)
    return cfg


def _check_syslog(opts: Mapping[str, str]) -> None:
    address = opts.get("syslog-address", "")
    if address:
        proto, sep, rest = address.partition("://")
        if not sep or proto not in SYSLOG_PROTOCOLS or not rest:
            raise BadInput("syslog-address", address, "proto://host:port with proto one of "
                           + ", ".join(SYSLOG_PROTOCOLS), fix="e.g. tcp://127.0.0.1:5140 (dockerd dials it from "
                           "the host, not from the container)")
    if opts.get("syslog-format", "") not in SYSLOG_FORMATS:
        raise BadInput("syslog-format", opts["syslog-format"], ", ".join(f for f in SYSLOG_FORMATS if f),
                       fix="rfc5424micro keeps microseconds and the hostname")


def _mode(mode: str, max_buffer_size: str | None) -> dict[str, str]:
    out = {"mode": mode}
    if max_buffer_size:
        out["max-buffer-size"] = max_buffer_size
    return out


def json_file(*, max_size: str | None = None, max_file: int | None = None, mode: str = "blocking",
              max_buffer_size: str | None = None, labels: Sequence[str] = (),
              compress: bool | None = None) -> LogConfig:
    """Docker's default driver: JSON lines in ``/var/lib/docker/containers/<id>/<id>-json.log``.

    ``labels`` are written into every line as ``attrs`` (``docker logs --details`` shows them)."""
    opts = _mode(mode, max_buffer_size)
    if max_size:
        opts["max-size"] = max_size
    if max_file:
        opts["max-file"] = str(max_file)
    if compress is not None:
        opts["compress"] = str(compress).lower()
    if labels:
        opts["labels"] = ",".join(labels)
    return check(LogConfig("json-file", opts))


def local(*, max_size: str | None = None, max_file: int | None = None, mode: str = "blocking",
          max_buffer_size: str | None = None) -> LogConfig:
    """Docker's ``local`` driver: protobuf frames, rotated files gzipped (defaults 20 MiB × 5)."""
    opts = _mode(mode, max_buffer_size)
    if max_size:
        opts["max-size"] = max_size
    if max_file:
        opts["max-file"] = str(max_file)
    return check(LogConfig("local", opts))


def syslog_tag(label_keys: Sequence[str] = ()) -> str:
    """The Go template for ``--log-opt tag``: ``name|image|id|k=v&k2=v2`` with URL-encoded label values.

    The syslog driver sends no labels (it never calls ``ExtraAttributes``), so they travel in the tag;
    ``urlquery`` keeps a space (which would split the syslog header) or a ``|`` out of it."""
    for key in label_keys:
        if not re.fullmatch(r"[A-Za-z0-9_.\-/]+", key):
            raise BadInput("label key for the syslog tag", key, "letters, digits, '.', '-', '_', '/'")
    pairs = "&".join(f'{k}={{{{urlquery (index .ContainerLabels "{k}")}}}}' for k in label_keys)
    return "{{.Name}}|{{.ImageName}}|{{.ID}}|" + pairs


def syslog(address: str, *, mode: str = "blocking", max_buffer_size: str | None = None,
           label_keys: Sequence[str] = (), cache: bool = True, fmt: str = "rfc5424micro") -> LogConfig:
    """Docker's syslog driver to ``address`` (``tcp://127.0.0.1:5140``), the container's fields in the tag.

    ``cache=False`` turns dual logging off: no local copy for ``docker logs``."""
    opts = _mode(mode, max_buffer_size)
    opts.update({"syslog-address": address, "syslog-format": fmt, "tag": syslog_tag(label_keys)})
    if not cache:
        opts["cache-disabled"] = "true"
    return check(LogConfig("syslog", opts))


def journald(*, mode: str = "blocking") -> LogConfig:
    return check(LogConfig("journald", {"mode": mode}))


def journald_available(root: Path = Path("/")) -> tuple[bool, str]:
    """Whether dockerd's journald driver can work here, and why not.

    The driver calls go-systemd's ``journal.Enabled()``, which dials the journal's datagram socket
    (https://github.com/moby/moby/blob/v20.10.24/vendor/github.com/coreos/go-systemd/v22/journal/journal.go#L72-L85);
    this does the same. Meaningful when dockerd runs on this host."""
    sock = root / JOURNAL_SOCKET.relative_to("/")
    if sock.is_socket():
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.connect(str(sock))
            return True, f"{JOURNAL_SOCKET} accepts datagrams"
        except OSError as exc:
            return False, f"{JOURNAL_SOCKET} exists but refuses datagrams: {exc}"
    comm = root / "proc/1/comm"
    pid1 = comm.read_text().strip() if comm.exists() else "?"
    why = f"no {JOURNAL_SOCKET}: PID 1 is {pid1!r} and no systemd-journald runs on this host"
    engine = os.environ.get("container")  # noqa: SIM112 - systemd's own variable name, lower case
    if engine:
        why += f" (a {engine} container)"
    return False, why


def require_journald() -> None:
    ok, why = journald_available()
    if not ok:
        raise Unavailable(f"the journald log driver cannot work here: {why}; dockerd says \"failed to initialize "
                          "logging driver: journald is not enabled on this host\"",
                          fix="run on a host with systemd-journald (most Linux distributions); the driver is "
                              "compiled into dockerd")


def drivers_table() -> Any:
    """Docker's drivers side by side: where lines go, whether ``docker logs`` reads them, what is lost."""
    import pandas as pd

    ok, why = journald_available()
    rows = [
        ("json-file", "JSON lines in <DockerRootDir>/containers/<id>/<id>-json.log", "yes",
         "oldest lines at rotation (max-size × max-file; no rotation by default!)", "yes", ""),
        ("local", "protobuf frames, rotated files gzipped", "yes",
         "oldest lines at rotation (default 20 MiB × 5)", "yes", ""),
        ("syslog", "a syslog server (here: rsyslog in a container), RFC 5424 over TCP/UDP", "through the "
         "dual-logging cache (local, 20 MiB × 5)", "everything while the server is down; UDP also under load",
         "yes", ""),
        ("journald", "the host's systemd journal", "yes", "the journal's own rotation", "yes" if ok else "no",
         "" if ok else why),
        ("gelf / fluentd", "Graylog / Fluentd over the network", "through the cache",
         "like syslog", "no receiver here", "no Graylog or Fluentd server can be installed on this machine"),
        ("none", "nowhere", "no", "everything", "yes", ""),
    ]
    return pd.DataFrame(rows, columns=["driver", "where lines go", "docker logs", "what is lost", "here",
                                       "why not"])
