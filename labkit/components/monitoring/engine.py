"""The engine-tier monitoring stack as labelled Docker objects: up, reach, re-token, down.

>>> with EngineStack(StackSpec(name="lab")) as stack:        # checked, started, ready   # doctest: +SKIP
...     stack.prom.query("up")                               # a DataFrame
# every container and the network of stack "lab" are gone again

Everything goes through :mod:`labkit.docker`. Each object carries ``io.labkit.managed``, ``io.labkit.role``,
``io.labkit.session``, ``io.labkit.stack``, ``io.labkit.part`` and ``io.labkit.config-hash`` (the identity);
an *attached* stack (the default: a notebook, a test, a benchmark) also carries its process as owner, so
the reaper removes it if that process dies; ``labkit monitoring up`` makes a *detached* one that stays
until ``labkit monitoring down``. Configs go in with ``docker cp`` (put_archive) before start, never as
host bind mounts, so the same code works against a remote daemon.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from labkit import docker
from labkit.components.monitoring import checks, images, parts
from labkit.components.monitoring.checks import StackConflict, StackError
from labkit.components.monitoring.configs import render
from labkit.components.monitoring.promql import PromClient
from labkit.components.monitoring.spec import CONFIG_HASH, PART, PORTS, PUBLISHED, STACK, TOKEN, StackSpec
from labkit.errors import LabkitError
from labkit.log import log
from labkit.signals import terminating

ROLE = "monitoring"


def _create_network(name: str, labels: dict[str, str]) -> None:
    """``docker network create`` with exactly these labels (Scope.network always adds its process as owner,
    which a detached stack must not carry: the reaper would try to remove a network still in use)."""
    from labkit.docker.client import call

    log(f"$ docker network create {name}")
    call(lambda c: c.networks.create(name, driver="bridge", labels=labels))


def stack_containers(name: str) -> list[Any]:
    """Every container of stack ``name`` (any state, any session)."""
    return docker.containers(label=f"{STACK}={name}")


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1 URLs labkit built
            return int(resp.status) == 200
    except (OSError, ValueError):
        return False


@dataclass
class EngineStack:
    """One stack: ``up()``/``with`` to start (or reuse) it, ``prom``/``received()`` to use it, ``down()``."""

    spec: StackSpec
    session: str = field(default_factory=docker.new_session_id)
    attached: bool = True  # owner label: the reaper removes it when this process is gone
    keep: bool = False  # leave it running when the ``with`` block ends
    reused: bool = False
    owned: bool = False  # True once this object created something (then it removes what it made)
    boxes: dict[str, Any] = field(default_factory=dict)

    # -- lifecycle -----------------------------------------------------------------------------------------
    def __enter__(self) -> EngineStack:
        try:
            return self.up()
        except BaseException:
            if self.owned:  # only what this call made: never a same-named stack that was refused
                self.down()
            raise

    def __exit__(self, *exc: object) -> None:
        if self.owned and not self.keep:
            self.down()

    def remove(self) -> None:
        """What a :class:`labkit.docker.Scope` calls on exit when the stack is adopted (``scope.adopt(stack)``)."""
        if not self.reused:
            self.down()

    def labels(self, part: str) -> dict[str, str]:
        out = {docker.SESSION: self.session, STACK: self.spec.name, PART: part, CONFIG_HASH: self.spec.identity,
               TOKEN: self.spec.token}
        if self.attached:
            out[docker.OWNER] = docker.owner()
        return out

    def up(self, *, timeout: float = 120.0) -> EngineStack:
        """Reuse the same stack if it runs; else check everything, then create and wait until it is ready."""
        with terminating():
            if self._adopt():
                return self
            checks.check_ports(self.spec)
            images.ensure_images(self.spec.all_parts)
            rendered = render(self.spec)
            checks.promtool(rendered, labels=self.labels("check"))
            checks.amtool(rendered, labels=self.labels("check"))
            self.owned = True
            _create_network(self.spec.network, {docker.MANAGED: "true", docker.ROLE: ROLE, **self.labels("network")})
            for part in ("receiver", "alertmanager", "blackbox", "node-exporter", "container-exporter", "demo",
                         "prometheus"):  # Prometheus last: its targets exist when it starts
                if self.spec.has(part):
                    self._start(part, rendered)
            self.wait_ready(timeout=timeout)
        log(f"✓ monitoring stack {self.spec.name} is up: Prometheus {self.prometheus_url}, Alertmanager "
            f"{self.alertmanager_url}, receiver {self.receiver_url}")
        return self

    def _adopt(self) -> bool:
        """True when a stack of this name runs with the same identity (reused); rebuilt if a part died;
        :class:`StackConflict` if its config differs."""
        found = stack_containers(self.spec.name)
        if not found:
            return False
        hashes = {c.labels.get(CONFIG_HASH) for c in found}
        if hashes != {self.spec.identity}:
            raise StackConflict(
                f"a monitoring stack named {self.spec.name!r} already runs with another config (identity "
                f"{', '.join(sorted(h or '?' for h in hashes))}, asked for {self.spec.identity})",
                fix=f"use it as it is, take it down first (`labkit monitoring down --name {self.spec.name}`), "
                    "or choose another name")
        by_part = {c.labels.get(PART): c for c in found}
        dead = [p for p in self.spec.all_parts if p != "demo" and (p not in by_part or by_part[p].status != "running")]
        if dead:
            log(f"! stack {self.spec.name}: {', '.join(dead)} not running: removing it and starting it again")
            self.down()
            return False
        self.reused, self.boxes = True, {p: c for p, c in by_part.items() if p in self.spec.all_parts}
        keeper = by_part.get("demo") or by_part["prometheus"]
        self.spec = self.spec.with_token(keeper.labels.get(TOKEN, self.spec.token))
        log(f"✓ reusing monitoring stack {self.spec.name} (same config, run token {self.spec.token})")
        return True

    def _start(self, part: str, rendered: dict[str, bytes]) -> Any:
        host_port = self.spec.ports.get(part, 0) if part in PUBLISHED else None
        kw = parts.container(self.spec, part, labels=self.labels(part), host_port=host_port)
        log("$ " + parts.docker_run_line(kw))
        image, command = kw.pop("image"), kw.pop("command")
        box = docker.create(image, command, role=ROLE, **kw)
        self.boxes[part] = box
        files = parts.files_for(part, rendered)
        if files:
            docker.put_archive(box, "/", parts.tar_of(files))
        docker.start(box)
        return box

    def wait_ready(self, *, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for part, path in (("receiver", "/healthz"), ("alertmanager", "/-/ready"), ("prometheus", "/-/ready")):
            box = self.boxes[part]
            while True:
                state = docker.attrs(box)["State"]
                if state.get("Status") != "running":
                    raise StackError(f"{box.name} is {state.get('Status')} (exit {state.get('ExitCode')}):\n"
                                     f"{docker.logs(box, tail=20).strip()}", fix=f"docker logs {box.name}")
                if _http_ok(self.url(part) + path):
                    break
                if time.monotonic() > deadline:
                    raise StackError(f"{part} not ready after {timeout:.0f} s:\n{docker.logs(box, tail=20).strip()}",
                                     fix=f"docker logs {box.name}")
                time.sleep(0.25)

    def down(self) -> list[str]:
        """Remove every object of this stack (found by its name, so also after a crash); their names."""
        gone = []
        for box in stack_containers(self.spec.name):
            docker.remove_container(box)
            gone.append(box.name)
        for net_id, _ in docker.networks_named(self.spec.network):
            docker.remove_network(net_id)
            gone.append(self.spec.network)
        self.boxes.clear()
        return gone

    def alive(self) -> str | None:
        """None while every part runs; else which part is gone and how it ended."""
        for part in self.spec.all_parts:
            if part == "demo":
                continue  # stopped on purpose by the alert checks
            box = self.boxes.get(part)
            if box is None or not docker.is_running(box):
                name = self.spec.host(part)
                try:
                    state = docker.attrs(box)["State"] if box is not None else {}
                except LabkitError:
                    state = {}
                how = f"exited {state.get('ExitCode')}" if state else "removed"
                return f"{part} ({name}) is not running any more ({how})"
        return None

    # -- reaching it ---------------------------------------------------------------------------------------
    def url(self, part: str) -> str:
        """``http://127.0.0.1:<host port>`` of a published part."""
        box = self.boxes[part]
        binding = (docker.attrs(box)["NetworkSettings"]["Ports"] or {}).get(f"{PORTS[part]}/tcp")
        if not binding:
            raise StackError(f"{part} has no published port (is it running?)", fix=f"docker logs {box.name}")
        return f"http://127.0.0.1:{binding[0]['HostPort']}"

    @property
    def prometheus_url(self) -> str:
        return self.url("prometheus")

    @property
    def alertmanager_url(self) -> str:
        return self.url("alertmanager")

    @property
    def receiver_url(self) -> str:
        return self.url("receiver")

    @property
    def network(self) -> str:
        """The stack's Docker network: put a container here with :func:`scrape_labels` and docker_sd finds it."""
        return self.spec.network

    @property
    def prom(self) -> PromClient:
        return PromClient.at(self.prometheus_url)

    def received(self) -> list[dict[str, Any]]:
        """Every notification the webhook receiver recorded (``received_at``, ``path``, ``payload``)."""
        try:
            with urllib.request.urlopen(self.receiver_url + "/received", timeout=10) as resp:  # noqa: S310
                return list(json.loads(resp.read()))
        except (OSError, ValueError) as exc:
            raise StackError(f"the receiver at {self.receiver_url} did not answer: {exc}",
                             fix=f"docker logs {self.spec.host('receiver')}") from exc

    # -- the demo app and the run token --------------------------------------------------------------------
    def stop_demo(self) -> float:
        """Kill and remove the demo app (``docker rm -f``); the host time just before (t0 of time to detect)."""
        box = self.boxes.pop("demo", None)
        if box is None:
            raise StackError("the stack has no demo app running", fix="StackSpec(parts=(..., 'demo'))")
        t0 = time.time()
        docker.remove_container(box)
        return t0

    def start_demo(self, token: str | None = None) -> str:
        """(Re)start the demo app, with a new run token if given; returns the token it carries."""
        if "demo" not in self.spec.parts:
            raise StackError("this stack has no demo part", fix="StackSpec(parts=(..., 'demo'))")
        old = self.boxes.pop("demo", None)
        if old is not None:
            docker.remove_container(old)
        else:  # adopted or stopped earlier: remove by name
            for box in stack_containers(self.spec.name):
                if box.labels.get(PART) == "demo":
                    docker.remove_container(box)
        if token:
            self.spec = self.spec.with_token(token)
        self._start("demo", {})
        return self.spec.token

    def apply_token(self, *, timeout: float = 30.0) -> None:
        """Write the configs rendered with the current token into Prometheus and reload it (POST /-/reload);
        returns once the loaded rules mention the token."""
        files = parts.files_for("prometheus", render(self.spec))
        docker.put_archive(self.boxes["prometheus"], "/", parts.tar_of(files))
        prom = self.prom
        prom.reload()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(self.spec.token in r.get("query", "") for g in prom.rules() for r in g["rules"]):
                return
            time.sleep(0.25)
        raise StackError(f"Prometheus did not load the rules of run {self.spec.token} within {timeout:.0f} s",
                         fix=f"docker logs {self.spec.host('prometheus')}")

    def status(self) -> list[dict[str, Any]]:
        """One row per container of the stack: part, state, published URL, token."""
        rows = []
        for box in stack_containers(self.spec.name):
            part = box.labels.get(PART, "?")
            url = ""
            if part in PUBLISHED and box.status == "running":
                self.boxes.setdefault(part, box)
                url = self.url(part)
            rows.append({"part": part, "container": box.name, "state": box.status, "url": url,
                         "run token": box.labels.get(TOKEN, ""), "session": box.labels.get(docker.SESSION, "")})
        return sorted(rows, key=lambda r: r["part"])
