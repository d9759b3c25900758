"""The local daemon as a one-node swarm that labkit makes, marks, and leaves again (never one it did not make)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit import docker
from labkit._run import Runner, default_runner
from labkit.errors import LabkitError
from labkit.log import log
from labkit.signals import terminating
from labkit.paths import atomic_write, labkit_home
from labkit.versions import tools_image

if TYPE_CHECKING:
    pass
from labkit.targets.kernel import KernelFeatures, daemon_kernel_features

GWBRIDGE = "docker_gwbridge"     # made by `docker swarm init`, left behind by `docker swarm leave`


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
    return dict(docker.info().get("Swarm") or {})


def _is_ours(state: dict[str, Any]) -> bool:
    """Labkit made this swarm: its node carries labkit's label, or the marker names this cluster."""
    if state.get("ControlAvailable"):
        try:
            labels = docker.swarm_node_attrs(state["NodeID"])["Spec"].get("Labels") or {}
        except LabkitError:
            labels = {}
        if labels.get(docker.MANAGED) == "true":
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
    session: str = field(default_factory=docker.new_session_id)
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
        return ["--label", f"{docker.MANAGED}=true", "--label", f"{docker.SESSION}={self.session}"]

    def _init_cmds(self, node_id: str = "$(docker info --format '{{.Swarm.NodeID}}')") -> list[tuple[str, ...]]:
        return [("docker", "swarm", "init", "--advertise-addr", self.advertise_addr),
                ("docker", "node", "update", "--label-add", f"{docker.MANAGED}=true", node_id)]

    def _network_cmds(self) -> list[tuple[str, ...]]:
        return [("docker", "network", "create", "--driver", "overlay", "--attachable", *self._label_args(),
                 self.network),
                ("docker", "run", "--detach", "--name", self.probe, "--network", self.network, *self._label_args(),
                 "--label", f"{docker.ROLE}=swarm-probe", self.image, "sleep", "infinity")]

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
            # the marker first, written atomically: clean can undo from here on
            atomic_write(_marker(), json.dumps({"node_id": state.get("NodeID"), "session": self.session,
                                                "cluster_id": (state.get("Cluster") or {}).get("ID")}))
            self._run.run(self._init_cmds(str(state.get("NodeID")))[1], timeout=60)
        self.node_id = str(state.get("NodeID", ""))
        self.manager = str(docker.swarm_node_attrs(self.node_id)["Description"]["Hostname"])
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
        self._signals = terminating()  # a kernel restart (SIGTERM) tears the swarm down like Ctrl-C
        self._signals.__enter__()
        try:
            return self.up()
        except BaseException:
            if self._made or self.node_id:
                self.close()
            self._signals.__exit__(None, None, None)
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        finally:
            self._signals.__exit__(None, None, None)


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
    out += [Leftover("network", GWBRIDGE, net_id) for net_id, _ in docker.networks_named(GWBRIDGE)]
    return out


def remove_leftover(item: Leftover) -> None:
    """Leave labkit's swarm (``docker swarm leave --force``), or remove ``docker_gwbridge`` once unused."""
    if item.kind == "swarm":
        docker.swarm_leave()
        if not docker.networks_named(GWBRIDGE):
            _marker().unlink(missing_ok=True)
        return
    found = dict(docker.networks_named(GWBRIDGE))
    if item.id not in found:
        _marker().unlink(missing_ok=True)
        return
    users = [k for k in (found[item.id].get("Containers") or {}) if not k.startswith("gateway_")]
    if users:
        raise LabkitError(f"{GWBRIDGE} is still used by {len(users)} container(s)",
                          fix="remove the containers on swarm overlays first, then run `labkit clean` again")
    log(f"$ docker network rm {GWBRIDGE}")
    docker.remove_network(item.id)
    _marker().unlink(missing_ok=True)
