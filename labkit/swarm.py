"""Docker Swarm on the engine target: a single-node swarm on the local daemon, or many nodes in containers.

:class:`LocalSwarm` makes the local daemon a one-node swarm, but never takes over a swarm
it did not create. :class:`DindSwarm` runs each node as a Docker-in-Docker container
(without ``--privileged``, which fails on kernels like our CI's; see
``environments/images/dind/``) on a labelled bridge network, copies the app image into
every node, and joins them into one swarm with an attachable overlay network.
Both are context managers that remove what they made, and both say which Swarm
features this kernel supports (:func:`kernel_features`): without IPVS, services use
DNS round-robin endpoints and host-mode ports; without ESP, overlays are unencrypted.

>>> with DindSwarm(nodes=3) as sw:                                  # doctest: +SKIP
...     print(sw.explain())
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import shlex
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit import engine, images
from labkit._run import Runner, default_runner
from labkit.errors import BadInput, CommandError, LabkitError, Unavailable
from labkit.log import log
from labkit.paths import labkit_home
from labkit.versions import tools_image

if TYPE_CHECKING:
    from docker.models.containers import Container

OVERLAY = "labkit-apps"          # the app network inside a DinD swarm (each swarm is its own world)
GWBRIDGE = "docker_gwbridge"     # made by `docker swarm init`, left behind by `docker swarm leave`
DIND_CAPS = {"cap_add": ["ALL"], "cap_drop": ["SYS_RESOURCE"]}
DIND_SECURITY = ["seccomp=unconfined", "apparmor=unconfined"]  # + systempaths=unconfined (see _create_node)


# --- what this kernel can do -------------------------------------------------------------------------------

@dataclass(frozen=True)
class KernelFeatures:
    """Which Swarm data-plane features the daemon's kernel has; ``None`` means we could not tell."""

    ipvs: bool | None
    esp: bool | None
    basis: str  # how it was decided, for the chapter to show

    @property
    def endpoint_mode(self) -> str:
        """``vip`` needs IPVS; ``dnsrr`` works on every kernel, so it is the choice when unsure."""
        return "vip" if self.ipvs else "dnsrr"

    @property
    def publish_mode(self) -> str:
        """The ingress routing mesh needs IPVS; ``host`` ports work everywhere."""
        return "ingress" if self.ipvs else "host"

    @property
    def encrypted_overlay(self) -> bool:
        return bool(self.esp)

    def explain(self) -> str:
        def word(v: bool | None) -> str:
            return "present" if v else ("absent" if v is False else "unknown")
        lines = [f"IPVS: {word(self.ipvs)}; ESP (IPsec): {word(self.esp)} ({self.basis}).",
                 f"Services use --endpoint-mode {self.endpoint_mode} and ports publish with mode={self.publish_mode}."]
        if not self.ipvs:
            lines.append("A full kernel (CONFIG_IP_VS) adds a virtual IP per service that load-balances across its "
                         "tasks (the default --endpoint-mode vip) and the ingress routing mesh: a published port "
                         "answers on every node and reaches any task. Here clients resolve tasks by DNS instead, "
                         "and a port answers only on nodes that run a task.")
        if not self.esp:
            lines.append("A full kernel (CONFIG_INET_ESP) adds encrypted overlays (--opt encrypted: IPsec between "
                         "nodes); here overlay traffic between nodes is plain VXLAN.")
        return "\n".join(lines)


def kernel_features(*, root: str | os.PathLike[str] = "/", release: str | None = None) -> KernelFeatures:
    """Decide IPVS and ESP from ``/proc/config.gz`` if the kernel exposes it, else by probing.

    ``y`` counts as present; ``m`` counts as present when the module is loaded or its ``.ko``
    file is installed (the kernel loads it on first use). Without a config, IPVS is present
    when ``/proc/net/ip_vs`` or ``/sys/module/ip_vs`` exists or the module file is installed, and
    ESP when ``esp4`` is loaded or installed; otherwise it is absent if the module tree is readable
    (nothing to load) and unknown if not. ``root`` lets tests point at a fake tree.
    """
    base = Path(root)
    release = release or platform.release()
    modules = base / "lib" / "modules" / release

    def module(name: str) -> bool:
        return (base / "sys" / "module" / name).exists() or any(modules.rglob(f"{name}.ko*"))

    config = base / "proc" / "config.gz"
    if config.is_file():
        values = _config_values(config, ("CONFIG_IP_VS", "CONFIG_INET_ESP"))

        def decide(key: str, mod: str) -> bool:
            v = values.get(key)
            return v == "y" or (v == "m" and module(mod))
        return KernelFeatures(decide("CONFIG_IP_VS", "ip_vs"), decide("CONFIG_INET_ESP", "esp4"),
                              f"read from /proc/config.gz of kernel {release}")
    tree = modules.is_dir()
    ipvs = (base / "proc" / "net" / "ip_vs").exists() or module("ip_vs")
    esp = module("esp4")
    return KernelFeatures(ipvs if ipvs or tree else None, esp if esp or tree else None,
                          f"probed /proc/net/ip_vs, /sys/module and /lib/modules/{release} (no /proc/config.gz)")


def _config_values(path: Path, keys: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    with gzip.open(path, "rt") as fh:
        for line in fh:
            key, sep, value = line.strip().partition("=")
            if sep and key in keys:
                out[key] = value
    return out


def daemon_kernel_features() -> KernelFeatures:
    """:func:`kernel_features` of the kernel the Docker daemon runs on (and its containers, and DinD nodes)."""
    theirs = str(engine.info().get("KernelVersion", ""))
    if theirs and theirs != platform.release():
        return KernelFeatures(None, None, f"the Docker daemon runs kernel {theirs}, not this one: its features "
                                          "cannot be read from here, so labkit uses the modes that work everywhere")
    return kernel_features()


# --- the swarm on the local daemon -------------------------------------------------------------------------

class SwarmNotOurs(LabkitError):
    """The local daemon is already in a swarm labkit did not create; labkit will not take it over."""

    def __init__(self, node_id: str, cluster_id: str, state: str) -> None:
        self.node_id, self.cluster_id, self.state = node_id, cluster_id, state
        super().__init__(
            f"the local Docker daemon is already in a swarm (state {state}, node ID {node_id or '?'}, "
            f"cluster ID {cluster_id or '?'}) that labkit did not create; labkit will not take it over",
            fix="use DindSwarm() for a lab swarm made of containers; or, only if that swarm is yours and "
                "disposable, `docker swarm leave --force` (on a manager this destroys the swarm) and run again")


def _marker() -> Path:
    return labkit_home() / "swarm" / "local.json"


def local_state() -> dict[str, Any]:
    """``docker info``'s Swarm section (LocalNodeState, NodeID, Cluster.ID, ControlAvailable)."""
    return dict(engine.info().get("Swarm") or {})


def _is_ours(state: dict[str, Any]) -> bool:
    """Labkit made this swarm: its node carries labkit's label, or the marker names this cluster."""
    if state.get("ControlAvailable"):
        from docker.errors import DockerException

        try:
            labels = engine.client().nodes.get(state["NodeID"]).attrs["Spec"].get("Labels") or {}
        except DockerException:
            labels = {}
        if labels.get(engine.MANAGED) == "true":
            return True
    try:
        marker = json.loads(_marker().read_text())
    except (OSError, ValueError):
        return False
    cluster = (state.get("Cluster") or {}).get("ID")
    return bool(cluster) and marker.get("cluster_id") == cluster


@dataclass
class LocalSwarm:
    """The local daemon as a one-node swarm that labkit creates, marks, and leaves again.

    The node is labelled ``io.labkit.managed=true`` and ``labkit_home()/swarm/local.json``
    records the cluster ID, so ``labkit clean`` can undo a swarm left by a crash (and only
    that one). The advertise address is loopback: nobody else joins a lab swarm.
    """

    advertise_addr: str = "127.0.0.1"
    session: str = field(default_factory=engine.new_session_id)
    runner: Runner | None = None
    image: str = field(default_factory=tools_image)
    network: str = ""
    features: KernelFeatures | None = None
    node_id: str = ""
    manager: str = ""

    def __post_init__(self) -> None:
        self.network = self.network or f"lk-{self.session}-apps"
        self.probe = f"lk-{self.session}-probe"
        self._run = self.runner or default_runner()
        self._made = False

    def docker(self, *args: str, node: str | None = None) -> tuple[str, ...]:
        """argv of a ``docker`` command on the node (here every node is the local daemon)."""
        return ("docker", *args)

    def node_container(self, node: str) -> str | None:
        return None  # the node is this machine: it cannot be killed as a container

    @property
    def node_names(self) -> list[str]:
        return [self.manager]

    def _label_args(self) -> list[str]:
        return ["--label", f"{engine.MANAGED}=true", "--label", f"{engine.SESSION}={self.session}"]

    def _init_cmds(self, node_id: str = "$(docker info --format '{{.Swarm.NodeID}}')") -> list[tuple[str, ...]]:
        return [("docker", "swarm", "init", "--advertise-addr", self.advertise_addr),
                ("docker", "node", "update", "--label-add", f"{engine.MANAGED}=true", node_id)]

    def _network_cmds(self) -> list[tuple[str, ...]]:
        return [("docker", "network", "create", "--driver", "overlay", "--attachable", *self._label_args(),
                 self.network),
                ("docker", "run", "--detach", "--name", self.probe, "--network", self.network, *self._label_args(),
                 "--label", f"{engine.ROLE}=swarm-probe", self.image, "sleep", "infinity")]

    def explain(self) -> str:
        init, label = self._init_cmds()
        lines = [shlex.join(init), shlex.join(label[:-1]) + ' "' + label[-1] + '"',
                 *(shlex.join(c) for c in self._network_cmds())]
        return "\n".join(["```bash", *lines, "```"])

    def up(self) -> LocalSwarm:
        self.features = daemon_kernel_features()
        state = local_state()
        if state.get("LocalNodeState", "inactive") != "inactive":
            if not _is_ours(state):
                raise SwarmNotOurs(str(state.get("NodeID", "")), str((state.get("Cluster") or {}).get("ID", "")),
                                   str(state.get("LocalNodeState")))
            log("✓ reusing the swarm labkit made earlier on this daemon")
        else:
            init, _ = self._init_cmds()
            self._run.run(init, timeout=60)
            self._made = True
            state = local_state()
            _marker().parent.mkdir(parents=True, exist_ok=True)  # the marker first: clean can undo from here on
            _marker().write_text(json.dumps({"node_id": state.get("NodeID"), "session": self.session,
                                             "cluster_id": (state.get("Cluster") or {}).get("ID")}))
            self._run.run(self._init_cmds(str(state.get("NodeID")))[1], timeout=60)
        self.node_id = str(state.get("NodeID", ""))
        self.manager = str(engine.client().nodes.get(self.node_id).attrs["Description"]["Hostname"])
        for argv in self._network_cmds():
            self._run.run(argv, timeout=120)
        log(f"✓ local swarm: node {self.manager} ({self.node_id}), overlay {self.network}")
        return self

    def close(self) -> None:
        """Leave the swarm labkit made and remove what it left behind; never raises."""
        try:
            for argv in (("docker", "rm", "--force", "--volumes", self.probe),
                         ("docker", "network", "rm", self.network)):
                self._run.run(argv, timeout=60, check=False, quiet=True)
            for item in leftovers():
                remove_leftover(item)
        except Exception as exc:  # noqa: BLE001 - cleanup must never mask the real error
            log(f"! could not undo the local swarm: {exc} (run `labkit clean`)")

    def __enter__(self) -> LocalSwarm:
        try:
            return self.up()
        except BaseException:
            if self._made or self.node_id:
                self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- leftovers for `labkit clean` --------------------------------------------------------------------------

@dataclass(frozen=True)
class Leftover:
    kind: str  # "swarm" | "network"
    name: str
    id: str


def leftovers() -> list[Leftover]:
    """Swarm state labkit made on the local daemon: the swarm itself, and ``docker_gwbridge`` after it.

    A swarm labkit did not make is never listed. DinD nodes are labelled containers, so the
    ordinary label search finds them.
    """
    state = local_state()
    active = state.get("LocalNodeState", "inactive") != "inactive"
    ours = _is_ours(state) if active else _marker().exists()
    if not ours:
        return []
    out = [Leftover("swarm", f"local swarm (node {state.get('NodeID')})", str(state.get("NodeID")))] if active else []
    out += [Leftover("network", GWBRIDGE, n.id) for n in engine.client().networks.list(names=[GWBRIDGE])
            if n.name == GWBRIDGE]
    return out


def remove_leftover(item: Leftover) -> None:
    """Leave labkit's swarm (``docker swarm leave --force``), or remove ``docker_gwbridge`` once unused."""
    from docker.errors import NotFound

    c = engine.client()
    if item.kind == "swarm":
        log("$ docker swarm leave --force")
        c.swarm.leave(force=True)
        if not [n for n in c.networks.list(names=[GWBRIDGE]) if n.name == GWBRIDGE]:
            _marker().unlink(missing_ok=True)
        return
    try:
        net = c.networks.get(item.id)
    except NotFound:
        _marker().unlink(missing_ok=True)
        return
    users = [k for k in (net.attrs.get("Containers") or {}) if not k.startswith("gateway_")]
    if users:
        raise LabkitError(f"{GWBRIDGE} is still used by {len(users)} container(s)",
                          fix="remove the containers on swarm overlays first, then run `labkit clean` again")
    log(f"$ docker network rm {GWBRIDGE}")
    net.remove()
    _marker().unlink(missing_ok=True)


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
    session: str = field(default_factory=engine.new_session_id)
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
        self._scope = engine.Scope(session=self.session, keep=self.keep)
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
                "--label", f"{engine.MANAGED}=true", "--label", f"{engine.SESSION}={self.session}",
                self.image, *self.dockerd_args]

    def explain(self) -> str:
        n1 = self.node_container(self.manager)
        lines = [f"docker network create --label {engine.MANAGED}=true --label {engine.SESSION}={self.session} "
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
            engine.require_image(img, fix="labkit images build")
        self._scope.network(self.bridge)
        for node in self.node_names:
            self._containers[node] = self._create_node(node)
        for node in self.node_names:
            self._wait_dockerd(node)
        self.timings["nodes_s"] = time.monotonic() - t0
        t1 = time.monotonic()
        self._load_images()
        self.timings["images_s"] = time.monotonic() - t1
        t2 = time.monotonic()
        self._join()
        self._exec(self.manager, self._overlay_args())
        self._exec(self.manager, self._probe_args())
        self.timings["swarm_s"] = time.monotonic() - t2
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
        try:
            return self.up()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    # steps ---------------------------------------------------------------------------------------------------
    def _create_node(self, node: str) -> Container:
        """``docker run`` of :meth:`run_argv` through the API. ``systempaths=unconfined`` is a CLI spelling:
        the API takes it as empty MaskedPaths and ReadonlyPaths (the inner dockerd writes /proc/sys)."""
        log("$ " + shlex.join(self.run_argv(node)))
        from docker.errors import DockerException

        c = engine.client()
        api = c.api
        host_config = api.create_host_config(network_mode=self.bridge, security_opt=DIND_SECURITY, **DIND_CAPS)
        host_config.update(MaskedPaths=[], ReadonlyPaths=[])
        try:
            created = api.create_container(self.image, command=list(self.dockerd_args) or None,
                                           name=self.node_container(node), hostname=node, host_config=host_config,
                                           labels=engine.labels(self.session, "dind-node"))
            box = c.containers.get(created["Id"])
            self._scope.adopt(box)  # before start: a node that fails to start is still removed
            box.start()
        except DockerException as exc:
            raise NodeFailed(str(self.node_container(node)), f"could not be started: {exc}", "") from exc
        return box

    def _wait_dockerd(self, node: str) -> None:
        box = self._containers[node]
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if not engine.is_running(box):
                raise NodeFailed(str(box.name), f"exited (code {box.attrs['State'].get('ExitCode')}) before its "
                                 "dockerd answered", self._logs(box))
            if engine.exec_in(box, ["docker", "info", "--format", "{{.ServerVersion}}"], timeout=10, quiet=True).ok:
                return
            time.sleep(0.2)
        raise NodeFailed(str(box.name), f"did not answer `docker info` within {self.timeout:g} s", self._logs(box))

    @staticmethod
    def _logs(box: Container) -> str:
        try:
            return str(box.logs(tail=30).decode(errors="replace"))
        except Exception as exc:  # noqa: BLE001 - the error being built matters more
            return f"(logs unavailable: {exc})"

    def _load_images(self) -> None:
        """``docker save`` once, then stream the archive into every node in parallel and ``docker load`` it."""
        for img in self.images:
            with tempfile.TemporaryDirectory(prefix="labkit-dind-") as tmp:
                archive = Path(tmp) / "image.tar"
                with open(archive, "wb") as fh:
                    for chunk in engine.client().images.get(img).save(named=True):
                        fh.write(chunk)
                with ThreadPoolExecutor(max_workers=self.nodes) as pool:
                    list(pool.map(self._load_into, self.node_names, [archive] * self.nodes, [img] * self.nodes))

    def _load_into(self, node: str, archive: Path, img: str) -> None:
        box = self._containers[node]
        where = "/var/lib/docker/labkit-load"
        log(f"  loading {img} into {box.name} (`docker save | docker exec -i {box.name} docker load`, via the API)")
        self._exec(node, ["mkdir", "-p", where], docker=False, quiet=True)
        with open(archive, "rb") as fh:
            box.put_archive(where, fh)  # the daemon unpacks the image archive inside the node
        self._exec(node, ["sh", "-c", f"tar -C {where} -cf - . | docker load && rm -rf {where}"], docker=False,
                   timeout=300, quiet=True)

    def _join(self) -> None:
        box = self._containers[self.manager]
        box.reload()
        addr = box.attrs["NetworkSettings"]["Networks"][self.bridge]["IPAddress"]
        self._exec(self.manager, ["swarm", "init", "--advertise-addr", addr])
        token = self._exec(self.manager, ["swarm", "join-token", "-q", "worker"]).strip()
        for node in self.node_names[1:]:
            self._exec(node, ["swarm", "join", "--token", token, f"{addr}:2377"])

    def _exec(self, node: str, argv: Sequence[str], *, docker: bool = True, timeout: float = 120,
              quiet: bool = False) -> str:
        """Run ``docker ARGV`` (or plain ``ARGV``) inside a node; a failure raises with the command's output."""
        box = self._containers[node]
        full = ["docker", *argv] if docker else list(argv)
        res = engine.exec_in(box, full, timeout=timeout, quiet=quiet)
        if not res.ok:
            raise CommandError(["docker", "exec", str(box.name), *full], res.returncode, res.stdout, res.stderr,
                               fix=f"look at `docker logs {box.name}`")
        return res.stdout


__all__ = ["KernelFeatures", "kernel_features", "daemon_kernel_features", "LocalSwarm", "DindSwarm", "SwarmNotOurs",
           "NodeFailed", "Leftover", "leftovers", "remove_leftover", "local_state"]
