"""Where each log path's lines end up, and reading them back: which sequence numbers arrived, and when.

* ``json-file``: dockerd writes ``LogPath`` (plus ``.1``, ``.2`` … once rotated) on the daemon's host, and
  ``docker logs`` reads the same files;
* ``local``: only through ``docker logs`` (protobuf frames; rotated files gzipped);
* ``syslog``: the collector's ``docker.json``; ``docker logs`` still works from dockerd's dual-logging
  cache (a ``local`` copy, on by default since 20.10).

Counting returns every ``seq`` seen for one token, so loss and duplicates both show. Followers stamp
each line when the reader first sees it (CLOCK_REALTIME, the emitter's clock on the same kernel).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import docker
from labkit.docker.client import call


def token_re(token: str) -> re.Pattern[bytes]:
    return re.compile(re.escape(token.encode()) + rb" seq=(\d+) t=(\d+\.\d+)")


def seqs_in(chunks: Iterable[bytes], token: str) -> list[int]:
    rx = token_re(token)
    return [int(m.group(1)) for chunk in chunks for m in rx.finditer(chunk)]


def file_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    """A file in chunks that end on a newline (no match is cut in two)."""
    if not path.exists():
        return
    with path.open("rb") as fh:
        rest = b""
        while data := fh.read(size):
            data = rest + data
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            yield data[:cut]
        if rest:
            yield rest


def log_stream(box: Any, *, follow: bool, timestamps: bool = False) -> Iterator[bytes]:
    """``docker logs [--follow]`` of a container, as raw frames (through labkit's Docker door)."""
    return iter(call(lambda _: box.logs(stdout=True, stderr=True, stream=True, follow=follow,
                                        timestamps=timestamps)))


def docker_logs_seqs(box: Any, token: str) -> list[int]:
    """What ``docker logs`` can still return for this container."""
    return seqs_in(log_stream(box, follow=False), token)


def json_file_paths(box: Any) -> list[Path]:
    """The container's json-file log and its rotated siblings (host paths; a local daemon)."""
    base = Path(docker.attrs(box)["LogPath"])
    return sorted(base.parent.glob(base.name + "*"))


def json_file_seqs(box: Any, token: str) -> list[int]:
    return [s for p in json_file_paths(box) for s in seqs_in(file_chunks(p), token)]


def local_log_files(box: Any) -> list[Path]:
    """The ``local`` driver's files: ``<DockerRootDir>/containers/<id>/local-logs/``."""
    root = Path(docker.info().get("DockerRootDir", "/var/lib/docker")) / "containers" / box.id / "local-logs"
    return sorted(root.iterdir()) if root.exists() else []


def last_line_time(box: Any) -> float | None:
    """dockerd's timestamp of the container's last line (when its copier read it from the pipe)."""
    import pandas as pd

    raw = call(lambda _: box.logs(tail=1, timestamps=True)).decode(errors="replace")
    stamp = raw.split(" ", 1)[0].strip()
    return float(pd.Timestamp(stamp).timestamp()) if stamp else None


@dataclass
class Seen:
    seq: int
    t_send: float
    t_seen: float


@dataclass
class Follower:
    """A background reader that records when each line of ``token`` becomes visible."""

    token: str
    seen: list[Seen] = field(default_factory=list)
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def record(self, data: bytes, now: float) -> None:
        for m in token_re(self.token).finditer(data):
            self.seen.append(Seen(int(m.group(1)), float(m.group(2)), now))

    def start(self, target: Any) -> Follower:
        self._thread = threading.Thread(target=target, daemon=True, name=f"follow-{self.token}")
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_count(self, n: int, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len({s.seq for s in self.seen}) < n and time.monotonic() < deadline and not self.error:
            time.sleep(0.01)
        return len({s.seq for s in self.seen}) >= n


def follow_file(path: Path, token: str, *, poll: float = 0.001, from_end: bool = True) -> Follower:
    """Tail ``path`` by polling every ``poll`` s (part of the delay's resolution)."""
    fol = Follower(token)

    def run() -> None:
        while not path.exists() and not fol._stop.is_set():
            time.sleep(poll)
        try:
            with path.open("rb") as fh:
                if from_end:
                    fh.seek(0, 2)
                rest = b""
                while not fol._stop.is_set():
                    data = fh.read()
                    now = time.time()
                    if not data:
                        time.sleep(poll)
                        continue
                    data = rest + data
                    cut = data.rfind(b"\n") + 1
                    rest = data[cut:]
                    fol.record(data[:cut], now)
        except OSError as exc:
            fol.error = str(exc)

    return fol.start(run)


def follow_docker_logs(box: Any, token: str) -> Follower:
    """``docker logs --follow`` through the API; each frame is stamped as it arrives (no polling)."""
    fol = Follower(token)

    def run() -> None:
        try:
            for frame in log_stream(box, follow=True):
                fol.record(frame, time.time())
                if fol._stop.is_set():
                    return
        except Exception as exc:  # noqa: BLE001 - reported by the caller (seen/sent), never raised in a thread
            fol.error = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"

    return fol.start(run)
