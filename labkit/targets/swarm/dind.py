"""A swarm of Docker-in-Docker nodes, without ``--privileged`` (see ``environments/images/dind/``)."""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import docker, images
from labkit.errors import BadInput, CommandError, LabkitError, Unavailable
from labkit import redact
from labkit.log import log
from labkit.progress import Progress
from labkit.signals import terminating
from labkit.versions import tools_image

from labkit.targets.kernel import KernelFeatures, daemon_kernel_features

Container = Any  # a container from labkit.docker (the SDK's model object, which only the door imports)

OVERLAY = "labkit-apps"          # the app network inside a DinD swarm (each swarm is its own world)
GWBRIDGE = "docker_gwbridge"     # made by `docker swarm init`, left behind by `docker swarm leave`
DIND_CAPS = {"cap_add": ["ALL"], "cap_drop": ["SYS_RESOURCE"]}
DIND_SECURITY = ["seccomp=unconfined", "apparmor=unconfined"]  # + systempaths=unconfined (see _create_node)
#: seconds a 3-node swarm took to come up on our 2-core CI machine (2026-11-30, load average 12-14): nodes
#: started and answering, images loaded into every node, swarm joined: the progress bar's first ETA
UP_PLAN_S = (4.2, 16.6, 7.3)


# --- many nodes, each a Docker-in-Docker container ---------------------------------------------------------

class NodeFailed(LabkitError):
    """A DinD node did not come up; ``logs`` is the tail of its ``docker logs``."""

    def __init__(self, node: str, reason: str, logs: str) -> None:
        self.node, self.reason, self.logs = node, reason, logs
        super().__init__(f"DinD node {node} {reason}\n--- docker logs {node} (last lines) ---\n{logs.strip()}",
                         fix="read the node's log above; the node needs --cap-add ALL --cap-drop SYS_RESOURCE and "
                             "unconfined seccomp/apparmor/systempaths (never --privileged on this kernel)")


@dataclass
class DindSwarm:
    """A swarm of ``nodes`` Docker-in-Docker containers: node1 manages, the others are workers.

    Everything is labelled with the session, and ``close()`` (or the ``with`` block) removes
    the nodes with their volumes and their network. ``images`` are copied into every node
    (``docker save`` → ``docker load``), since nodes cannot pull.
    """

    nodes: int = 3
    session: str = field(default_factory=docker.new_session_id)
    images: tuple[str, ...] = ()
    image: str = ""  # the node image; default: the pinned labkit/dind (built if missing)
    dockerd_args: tuple[str, ...] = ()
    encrypted: bool = False
    timeout: float = 120.0
    keep: bool = False
    features: KernelFeatures | None = None
    network: str = OVERLAY
    manager: str = "node1"
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= int(self.nodes) <= 9:
            raise BadInput("number of DinD nodes", self.nodes, "1 to 9", fix="DindSwarm(nodes=3)")
        self.images = tuple(self.images) or (tools_image(),)
        self.image = self.image or images.dind_image()
        self.probe = f"lk-{self.session}-probe"
        self.bridge = f"lk-{self.session}-swarm"
        self._scope = docker.Scope(session=self.session, keep=self.keep)
        self._containers: dict[str, Container] = {}

    # spelling ------------------------------------------------------------------------------------------------
    @property
    def node_names(self) -> list[str]:
        return [f"node{i}" for i in range(1, self.nodes + 1)]

    def node_container(self, node: str) -> str | None:
        return f"lk-{self.session}-{node}"

    def docker(self, *args: str, node: str | None = None) -> tuple[str, ...]:
        """argv of ``docker ARGS`` run by ``node``'s inner daemon (default: the manager)."""
        return ("docker", "exec", f"lk-{self.session}-{node or self.manager}", "docker", *args)

    def run_argv(self, node: str) -> list[str]:
        """The ``docker run`` that starts a node, as a person would type it (what labkit does via the API)."""
        return ["docker", "run", "--detach", "--name", str(self.node_container(node)), "--hostname", node,
                "--network", self.bridge, "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                *[a for opt in [*DIND_SECURITY, "systempaths=unconfined"] for a in ("--security-opt", opt)],
                "--label", f"{docker.MANAGED}=true", "--label", f"{docker.SESSION}={self.session}",
                self.image, *self.dockerd_args]

    def explain(self) -> str:
        n1 = self.node_container(self.manager)
        lines = [f"docker network create --label {docker.MANAGED}=true --label {docker.SESSION}={self.session} "
                 f"{self.bridge}",
                 *(shlex.join(self.run_argv(n)) for n in self.node_names),
                 *(f"docker save {img} | docker exec -i {self.node_container(n)} docker load"
                   for img in self.images for n in self.node_names),
                 f"NODE1_IP=$(docker inspect -f '{{{{range .NetworkSettings.Networks}}}}{{{{.IPAddress}}}}{{{{end}}}}' "
                 f"{n1})",
                 f'docker exec {n1} docker swarm init --advertise-addr "$NODE1_IP"',
                 f"TOKEN=$(docker exec {n1} docker swarm join-token -q worker)",
                 *(f'docker exec {self.node_container(n)} docker swarm join --token "$TOKEN" "$NODE1_IP:2377"'
                   for n in self.node_names[1:]),
                 shlex.join(self.docker(*self._overlay_args())),
                 shlex.join(self.docker(*self._probe_args()))]
        return "\n".join(["```bash", *lines, "```"])

    def _overlay_args(self) -> list[str]:
        enc = ["--opt", "encrypted"] if self.encrypted else []
        return ["network", "create", "--driver", "overlay", "--attachable", *enc, self.network]

    def _probe_args(self) -> list[str]:
        return ["run", "--detach", "--name", self.probe, "--network", self.network, self.images[0],
                "sleep", "infinity"]

    # lifecycle -----------------------------------------------------------------------------------------------
    def up(self) -> DindSwarm:
        t0 = time.monotonic()
        self.features = daemon_kernel_features()
        if self.encrypted and not self.features.encrypted_overlay:
            raise Unavailable("encrypted overlays need ESP (CONFIG_INET_ESP), which this kernel lacks: "
                              "the network is created but traffic between nodes times out",
                              fix="DindSwarm(encrypted=False)")
        if self.image == images.dind_image():
            images.ensure_dind()
        for img in (self.image, *self.images):
            docker.require_image(img, fix="labkit images build")
        bar = Progress(f"DinD swarm of {self.nodes} node(s)", [s * self.nodes / 3 for s in UP_PLAN_S]).start()
        try:
            self._scope.network(self.bridge)
            for node in self.node_names:
                self._containers[node] = self._create_node(node)
            for node in self.node_names:
                self._wait_dockerd(node)
            self.timings["nodes_s"] = time.monotonic() - t0
            bar.step(f"nodes: {self.timings['nodes_s']:.1f} s")
            t1 = time.monotonic()
            self._load_images()
            self.timings["images_s"] = time.monotonic() - t1
            bar.step(f"images loaded: {self.timings['images_s']:.1f} s")
            t2 = time.monotonic()
            self._join()
            self._exec(self.manager, self._overlay_args())
            self._exec(self.manager, self._probe_args())
            self.timings["swarm_s"] = time.monotonic() - t2
            bar.step(f"swarm joined: {self.timings['swarm_s']:.1f} s")
        except BaseException:
            bar.close("stopped")
            raise
        bar.close()
        self.timings["total_s"] = time.monotonic() - t0
        log(f"✓ DinD swarm of {self.nodes} node(s) up in {self.timings['total_s']:.1f} s "
            f"(nodes {self.timings['nodes_s']:.1f} s, images {self.timings['images_s']:.1f} s, "
            f"swarm {self.timings['swarm_s']:.1f} s)")
        return self

    def close(self) -> None:
        """Remove the nodes (with their /var/lib/docker volumes) and their network; never raises."""
        self._scope.close()
        self._containers.clear()

    def __enter__(self) -> DindSwarm:
        self._signals = terminating()  # a kernel restart (SIGTERM) tears the swarm down like Ctrl-C
        self._signals.__enter__()
        try:
            return self.up()
        except BaseException:
            self.close()
            self._signals.__exit__(None, None, None)
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        finally:
            self._signals.__exit__(None, None, None)

    # steps ---------------------------------------------------------------------------------------------------
    def _create_node(self, node: str) -> Container:
        """``docker run`` of :meth:`run_argv` through the API. ``systempaths=unconfined`` is a CLI spelling:
        the API takes it as empty MaskedPaths and ReadonlyPaths (the inner dockerd writes /proc/sys)."""
        log("$ " + shlex.join(self.run_argv(node)))
        try:
            name = str(self.node_container(node))
            # adopted before the daemon answers (SIGTERM mid-create still removes it), labelled with its owner
            # (the reaper removes it if this process dies), and before start (a failed start is still removed)
            box = self._scope.create_container(name, lambda: docker.create_raw(
                self.image, name=name, hostname=node, network=self.bridge, command=list(self.dockerd_args) or None,
                labels_=self._scope.owner_labels("dind-node"),
                host_config={"security_opt": DIND_SECURITY, **DIND_CAPS},
                host_config_extra={"MaskedPaths": [], "ReadonlyPaths": []}))
            docker.start(box)
        except docker.DockerError as exc:
            raise NodeFailed(str(self.node_container(node)), f"could not be started: {exc.message}", "") from exc
        return box

    def _wait_dockerd(self, node: str) -> None:
        box = self._containers[node]
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if not docker.is_running(box):
                raise NodeFailed(str(box.name), f"exited (code {box.attrs['State'].get('ExitCode')}) before its "
                                 "dockerd answered", self._logs(box))
            if docker.exec_in(box, ["docker", "info", "--format", "{{.ServerVersion}}"], timeout=10, quiet=True).ok:
                return
            time.sleep(0.2)
        raise NodeFailed(str(box.name), f"did not answer `docker info` within {self.timeout:g} s", self._logs(box))

    @staticmethod
    def _logs(box: Container) -> str:
        return docker.logs(box, tail=30)

    def _load_images(self) -> None:
        """``docker save`` once, then stream the archive into every node in parallel and ``docker load`` it."""
        for img in self.images:
            with docker.saved_image(img) as archive, ThreadPoolExecutor(max_workers=self.nodes) as pool:
                list(pool.map(self._load_into, self.node_names, [archive] * self.nodes, [img] * self.nodes))

    def _load_into(self, node: str, archive: Path, img: str) -> None:
        box = self._containers[node]
        where = "/var/lib/docker/labkit-load"
        log(f"  loading {img} into {box.name} (`docker save | docker exec -i {box.name} docker load`, via the API)")
        self._exec(node, ["mkdir", "-p", where], docker_cli=False, quiet=True)
        with open(archive, "rb") as fh:
            docker.put_archive(box, where, fh)  # the daemon unpacks the image archive inside the node
        self._exec(node, ["sh", "-c", f"tar -C {where} -cf - . | docker load && rm -rf {where}"], docker_cli=False,
                   timeout=300, quiet=True)

    def _join(self) -> None:
        addr = docker.ip_on(self._containers[self.manager], self.bridge)
        self._exec(self.manager, ["swarm", "init", "--advertise-addr", addr])
        token = self._exec(self.manager, ["swarm", "join-token", "-q", "worker"], quiet=True).strip()
        redact.register(token)  # a join token lets any machine join the swarm: never shown
        for node in self.node_names[1:]:
            self._exec(node, ["swarm", "join", "--token", token, f"{addr}:2377"],
                       shown=["swarm", "join", "--token", "<worker join token>", f"{addr}:2377"])

    def _exec(self, node: str, argv: Sequence[str], *, docker_cli: bool = True, timeout: float = 120,
              quiet: bool = False, shown: Sequence[str] | None = None) -> str:
        """Run ``docker ARGV`` (or plain ``ARGV``) inside a node; a failure raises with the command's output.

        ``shown`` replaces ``argv`` in the log and in the error (a command that carries a secret)."""
        box = self._containers[node]
        full = ["docker", *argv] if docker_cli else list(argv)
        visible = (["docker", *shown] if docker_cli else list(shown)) if shown is not None else full
        res = docker.exec_in(box, full, timeout=timeout, quiet=quiet, shown=visible)
        if not res.ok:
            raise CommandError(["docker", "exec", str(box.name), *visible], res.returncode, res.stdout, res.stderr,
                               fix=f"look at `docker logs {box.name}`")
        return res.stdout
