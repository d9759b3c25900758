"""kind clusters as plans: create, delete, the local registry, loading images into the nodes.

labkit never touches ``~/.kube/config``: every cluster gets ``<labkit home>/kube/<name>.yaml``
(mode 0600, as kind writes it) and every kubectl/helm step passes ``--kubeconfig``.
"""

from __future__ import annotations

from typing import Any

from labkit._run import Cmd
from labkit.errors import BadInput
from labkit.manifests import to_yaml
from labkit.steps import Plan, Step
from labkit.targets.kind import sources as src
from labkit.targets.kind.config import REGISTRY_PORT, ClusterConfig
from labkit.targets.kube import KubeTarget, kubeconfig_path
from labkit.versions import pins


def create_plan(cfg: ClusterConfig, *, kind: str = "kind", kubectl: str = "kubectl", wait: float = 180) -> Plan:
    """Create the cluster from ``cfg`` (skipped if a cluster of that name answers), then wait for its nodes."""
    kc = str(kubeconfig_path(cfg.name))
    argv = [kind, "create", "cluster",
            "--name", cfg.name,                  # labkit's clusters all start with "labkit"
            "--config", "-",                     # the config below, on stdin
            "--kubeconfig", kc]                  # a kubeconfig of the lab's own (0600)
    if not cfg.disable_default_cni:
        argv += ["--wait", f"{wait:g}s"]         # until the control plane is Ready (needs a CNI)
    plan = Plan(f"Create kind cluster {cfg.name}").add(
        Step("Create the kind cluster", Cmd(tuple(argv), stdin=cfg.to_yaml()),
             why=f"{cfg.control_planes} control plane(s) and {cfg.workers} worker(s) as Docker containers, "
                 f"node image {cfg.image} (pinned by digest, as kind's docs ask); the config's fields are "
                 f"kind's {src.kind(src.KIND_CONFIGURATION, cfg.kubernetes)}",
             check=Cmd((kubectl, "--kubeconfig", kc, "get", "--raw", "/readyz")),
             timeout=wait + 600, source=src.kind(src.KIND_QUICK_START, cfg.kubernetes),
             diagnose=(Cmd(("docker", "ps", "-a", "--filter", f"label=io.x-k8s.kind.cluster={cfg.name}")),
                       Cmd((kind, "export", "logs", "--name", cfg.name)))))
    if not cfg.disable_default_cni:  # without a CNI nodes stay NotReady until the network chapter installs one
        plan.add(Step("Wait for every node to be Ready",
                      Cmd((kubectl, "--kubeconfig", kc, "wait", "--for=condition=Ready", "nodes", "--all",
                           f"--timeout={wait:g}s")),
                      why="kubelet, kube-proxy and the CNI are up on every node; kind's --wait covers only the "
                          "control plane",
                      timeout=wait + 30, source=src.k8s_source(src.KUBECTL_WAIT, cfg.kubernetes),
                      diagnose=(Cmd((kubectl, "--kubeconfig", kc, "get", "nodes", "-o", "wide")),
                                Cmd((kubectl, "--kubeconfig", kc, "get", "events", "-A",
                                     "--sort-by=.lastTimestamp")))))
    return plan


def delete_plan(name: str, *, kind: str = "kind") -> Plan:
    return Plan(f"Delete kind cluster {name}").add(
        Step("Delete the kind cluster", Cmd((kind, "delete", "cluster", "--name", name,
                                             "--kubeconfig", str(kubeconfig_path(name)))),
             why="removes its node containers and network; the lab's kubeconfig entry goes with it",
             source=src.kind(src.KIND_QUICK_START)))


def registry_pin() -> dict[str, Any]:
    return dict(pins()["components"]["registry"])


def registry_configmap(port: int = REGISTRY_PORT) -> dict[str, Any]:
    """KEP-1755's ``local-registry-hosting`` ConfigMap: tells tools where the cluster's registry is."""
    import yaml

    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "local-registry-hosting", "namespace": "kube-public",
                         "labels": {"io.labkit.managed": "true", "io.labkit.role": "registry"}},
            "data": {"localRegistryHosting.v1": yaml.safe_dump(
                {"host": f"localhost:{port}", "help": "https://kind.sigs.k8s.io/docs/user/local-registry/"},
                sort_keys=False)}}


def registry_plan(cfg: ClusterConfig, target: KubeTarget) -> Plan:
    """kind's documented local registry: one ``registry`` container, every node told to use it."""
    reg = registry_pin()
    name, port, image = str(reg["name"]), int(reg["host_port"]), str(reg["image"])
    hosts_dir = f"/etc/containerd/certs.d/localhost:{port}"
    script = src.kind(src.KIND_REGISTRY_SCRIPT, cfg.kubernetes)
    running = Cmd(("sh", "-c", 'test "$(docker inspect -f "{{.State.Running}}" "$1" 2>/dev/null)" = true', "sh",
                   name))
    plan = Plan(f"Wire the local registry localhost:{port} into {cfg.name}").add(
        Step("Start the registry container again if it exists but is stopped",
             Cmd(("docker", "start", name)),
             why="kind's script runs the registry only when `{{.State.Running}}` is not `true`; a stopped "
                 "container keeps its name, so `docker run` would fail on it: start it instead",
             check=Cmd(("sh", "-c", 'test "$(docker inspect -f "{{.State.Running}}" "$1" 2>/dev/null)" != false',
                        "sh", name)),
             timeout=60, source=script + "#L18-L25"),
        Step("Start the registry container (shared by every lab cluster)",
             Cmd(("docker", "run", "-d", "--restart=always", "-p", f"127.0.0.1:{port}:5000", "--network", "bridge",
                  "--name", name, "--label", "io.labkit.managed=true", "--label", "io.labkit.role=registry", image)),
             why=f"the host pushes to localhost:{port}; pods and nodes reach it as {name}:5000. Skipped when "
                 "`{{.State.Running}}` is `true` (the check compares the value, as kind's script does)",
             check=running, timeout=300, source=script + "#L18-L25"))
    hosts_toml = f'[host."http://{name}:5000"]\n'
    for node in cfg.node_names():
        plan.add(Step(f"Tell containerd on {node} where localhost:{port} is",
                      Cmd(("docker", "exec", "-i", node, "sh", "-c",
                           f"mkdir -p {hosts_dir} && cat > {hosts_dir}/hosts.toml"), stdin=hosts_toml),
                      why="containerd reads /etc/containerd/certs.d (kind node images since v0.27, so no "
                          "containerd config patch is needed: the script's own note)",
                      source=script + "#L46-L60"))
    return plan.add(
        Step("Attach the registry to the kind network",
             Cmd(("docker", "network", "connect", "kind", name)),
             why="so nodes resolve and reach it by name",
             check=Cmd(("sh", "-c",
                        'test "$(docker inspect -f "{{json .NetworkSettings.Networks.kind}}" "$1")" != null',
                        "sh", name)),
             source=script + "#L62-L66"),
        Step("Publish the registry's address in the cluster (local-registry-hosting)",
             Cmd(target.kubectl("apply", "-f", "-"), stdin=to_yaml(registry_configmap(port))),
             why="KEP-1755's ConfigMap tells tools which registry the cluster pulls from",
             source=script + "#L68-L79"))


def load_images_plan(target: KubeTarget, images: list[str], *, kubernetes: str | None = None) -> Plan:
    for image in images:
        if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
            raise BadInput("image to load", image, "an explicit tag other than :latest",
                           fix="tag it (e.g. labkit/tools:0.2.0): with :latest the kubelet's pull policy is Always "
                               "and pods fail with ErrImagePull")
    if not target.kind_cluster:
        raise BadInput("cluster for kind load", target.name, "a kind cluster labkit made",
                       fix="push the image to a registry your cluster can pull from")
    return Plan(f"Load images into {target.kind_cluster}'s nodes").add(*[
        Step(f"Load {image}", Cmd((target.kind, "load", "docker-image", image, "--name", target.kind_cluster)),
             why="copies the image into containerd on every node, so pods start without a registry (node images "
                 "of kind v0.32.0 and later need kind v0.32.0 or newer for this: their containerd changed)",
             timeout=600, source=src.kind(src.KIND_QUICK_START, kubernetes))
        for image in images])


#: Registries the kind chapters pull from; `labkit up --mirror` writes one hosts.toml per host on every node.
MIRRORED_HOSTS = ("docker.io", "quay.io", "registry.k8s.io", "ghcr.io")
#: containerd's hosts.toml format, at the containerd version kind v0.32.0's base image builds (v2.3.1:
#: https://github.com/kubernetes-sigs/kind/blob/v0.32.0/images/base/Dockerfile, ARG CONTAINERD_VERSION)
HOSTS_MD = "https://github.com/containerd/containerd/blob/v2.3.1/docs/hosts.md"


def hosts_toml(upstream: str, mirror: str) -> str:
    """``/etc/containerd/certs.d/<upstream>/hosts.toml`` sending pulls of ``upstream`` images to ``mirror``
    (``host:port``, plain HTTP) first, then to the upstream ``server`` (so anything missing from the kit still
    comes, slowly, over the room's uplink).

    Docker Hub content sits unprefixed in the mirror; any other registry under its host name, reached with
    ``override_path = true`` ("the host's API root endpoint is defined in the URL path": without it containerd
    would append ``/v2`` after the path)."""
    server = "https://registry-1.docker.io" if upstream == "docker.io" else f"https://{upstream}"
    host = f"http://{mirror}" if upstream == "docker.io" else f"http://{mirror}/v2/{upstream}"
    lines = [f'server = "{server}"', "", f'[host."{host}"]', '  capabilities = ["pull", "resolve"]']
    if upstream != "docker.io":
        lines.append("  override_path = true")
    return "\n".join(lines) + "\n"


def check_mirror(mirror: str) -> str:
    """``mirror`` if it is ``HOST:PORT`` (no scheme, no path), else :class:`BadInput` with the fix."""
    host, _, port = mirror.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in mirror or " " in mirror:
        raise BadInput("mirror", mirror, "HOST:PORT of `labkit workshop serve`, e.g. 192.168.1.10:5000",
                       fix="the address `labkit workshop serve` printed (for `labkit up --mirror` or LABKIT_MIRROR)")
    return mirror


def mirror_plan(cfg: ClusterConfig, mirror: str, *, hosts: tuple[str, ...] = MIRRORED_HOSTS) -> Plan:
    """Wire every node's containerd to a workshop mirror (``labkit workshop serve``): one hosts.toml per
    upstream registry. containerd re-reads certs.d on each pull ("Updates under this directory do not require
    restarting the containerd daemon"), and kind's node images use it by default (config_path
    /etc/containerd/certs.d, kind >= v0.27), so no restart and no config patch."""
    check_mirror(mirror)
    plan = Plan(f"Pull through the workshop mirror {mirror} on {cfg.name}'s nodes")
    for node in cfg.node_names():
        for upstream in hosts:
            path = f"/etc/containerd/certs.d/{upstream}"
            plan.add(Step(f"{node}: pull {upstream} images through {mirror}",
                          Cmd(("docker", "exec", "-i", node, "sh", "-c", 'mkdir -p "$1" && cat > "$1/hosts.toml"',
                               "sh", path), stdin=hosts_toml(upstream, mirror)),
                          why="containerd tries the mirror first, then the upstream server",
                          check=Cmd(("docker", "exec", node, "grep", "-qF", f"http://{mirror}", f"{path}/hosts.toml")),
                          source=HOSTS_MD))
    return plan
