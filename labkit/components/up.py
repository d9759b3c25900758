"""``labkit up``: compose the chosen options of every component into one kind cluster and one Script.

Each installable component registers an ``up`` flag (``--cni``, ``--storage``, later ``--monitoring``,
``--logging``, ``--mesh``, ``--pipeline``). The network option picks the kind profile; every option
adds the config it needs, refuses a host that cannot run it, names the CLIs it needs, and brings its
install and verify plans, in the components' install order (network first).

>>> script = up_script(cni="calico", workers=2)       # nothing runs: explain or inspect it
>>> print(script.explain())                           # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit._run import Runner, default_runner
from labkit.components import installable
from labkit.components.base import Component, Option
from labkit.errors import BadInput, LabkitError
from labkit.log import log
from labkit.paths import atomic_write
from labkit.progress import Progress
from labkit.steps import Plan, Script
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kind.lifecycle import check_existing, existing_clusters, saved_config_path
from labkit.targets.kube import KubeTarget

NETWORK_FLAG = "cni"
DEFAULT_CNI = "kindnet"


@dataclass(frozen=True)
class Choice:
    component: Component
    option: Option

    @property
    def flag(self) -> str:
        return str(self.component.up_flag)


def flags() -> dict[str, Component]:
    """``up`` flag → component, in install order."""
    return {str(c.up_flag): c for c in installable()}


def choose(**chosen: str | None) -> list[Choice]:
    """The options named per flag (``cni="calico", storage="longhorn"``), network first; the CNI defaults
    to kindnet. An unknown flag or option is :class:`BadInput` naming the choices."""
    known = flags()
    for flag in chosen:
        if flag not in known:
            raise BadInput("up option", f"--{flag.replace('_', '-')}", ", ".join(f"--{f}" for f in known))
    picks = {**chosen, NETWORK_FLAG: chosen.get(NETWORK_FLAG) or DEFAULT_CNI}
    out = []
    for flag, comp in known.items():
        value = picks.get(flag)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise BadInput(f"--{flag}", value, ", ".join(comp.options().installable) if comp.options else "-")
        out.append(Choice(comp, comp.option(value)))
    if out[0].option.name == "none" and len(out) > 1:
        raise BadInput(f"--{out[1].flag} with --cni", "none", "any CNI but none",
                       fix="the other components' pods need a pod network: choose a CNI (e.g. --cni kindnet)")
    return out


def cluster_config(cni: str | None = None, *, workers: int = 2, name: str | None = None, kubernetes: str | None = None,
                   allow_cgroup_v1: bool = False, **chosen: str | None) -> ClusterConfig:
    """The kind config for the chosen options: the CNI's profile plus what each option needs."""
    chosen = {NETWORK_FLAG: cni, **chosen}
    choices = choose(**chosen)
    extra: dict[str, Any] = {"workers": workers}
    for ch in choices[1:]:
        for key, value in ch.option.config_needs().items():
            if key in extra and extra[key] != value and key != "workers":
                raise BadInput(f"kind config {key}", value, f"{extra[key]!r} (another option needs it)")
            extra[key] = value
    if name is not None:
        extra["name"] = name
    if kubernetes:
        extra["kubernetes"] = kubernetes
    if allow_cgroup_v1:
        extra["fail_cgroup_v1"] = False
    cfg: ClusterConfig = choices[0].option.cluster_config(**extra)  # type: ignore[attr-defined]
    for ch in choices:
        ch.option.check_config(cfg)
    return cfg


def up_script(cni: str | None = None, *, workers: int = 2, name: str | None = None, kubernetes: str | None = None,
              verify: bool = True, registry: bool = True, image: str | None = None, allow_cgroup_v1: bool = False,
              target: KubeTarget | None = None, cfg: ClusterConfig | None = None, mirror: str | None = None,
              **chosen: str | None) -> Script:
    """Everything ``labkit up`` does, as data: explain it, golden-test it, or run it. ``mirror`` (``host:port`` of
    ``labkit workshop serve``) adds the steps that make every node pull through it."""
    from labkit.targets.kind import plans
    from labkit.versions import tools_image

    chosen = {NETWORK_FLAG: cni, **chosen}
    choices = choose(**chosen)
    cfg = cfg or cluster_config(workers=workers, name=name, kubernetes=kubernetes, allow_cgroup_v1=allow_cgroup_v1,
                                **chosen)
    for ch in choices:
        ch.option.check_config(cfg)
    target = target or KubeTarget.for_kind(cfg.name)
    image = image or tools_image()
    net = choices[0]
    out = [_part(p, ch.component.name) for ch in choices for p in ch.option.before_create(cfg)]
    out.append(_part(plans.create_plan(cfg, kind=target.kind, kubectl=target.kubectl_bin), "kind"))
    if mirror:
        out.append(_part(plans.mirror_plan(cfg, mirror), "kind"))
    if registry:
        out.append(_part(plans.registry_plan(cfg, target), "kind"))
    out.append(_part(net.option.install(target, cfg), net.component.name))
    if verify and net.option.name != "none":
        out.append(_part(plans.load_images_plan(target, [image], kubernetes=cfg.kubernetes), "kind"))
        check = net.option.verify(target, image=image, cfg=cfg)
        if check is not None:
            out.append(_part(check, net.component.name))
    for ch in choices[1:]:
        out.append(_part(ch.option.install(target, cfg), ch.component.name))
        if verify:
            check = ch.option.verify(target, image=image, cfg=cfg)
            if check is not None:
                out.append(_part(check, ch.component.name))
    title = "labkit up " + " ".join(f"--{ch.flag} {ch.option.name}" for ch in choices)
    return Script(f"{title}: cluster {cfg.name} with " + " and ".join(ch.option.title for ch in choices), out)


def _part(plan: Plan, part: str) -> Plan:
    plan.part = part
    return plan


def tools_needed(choices: list[Choice]) -> tuple[set[str], set[str]]:
    """(CLIs with version gates beyond kind and kubectl, plain host commands) the chosen options need."""
    clis: set[str] = set()
    host: set[str] = {"docker"}
    for ch in choices:
        for tool in ch.option.tools():
            (clis if tool in ("helm",) else host).add(tool)
    return clis, host


def up(cni: str | None = None, *, workers: int = 2, name: str | None = None, kubernetes: str | None = None,
       verify: bool = True, registry: bool = True, allow_cgroup_v1: bool = False, runner: Runner | None = None,
       preflight: bool = True, mirror: str | None = None, **chosen: str | None) -> KubeTarget:
    """Create (or reuse) a kind cluster with the chosen options (``cni=``, ``storage=``, …) installed and
    verified; returns its target. Interrupted? Run it again: finished steps are skipped. ``mirror`` (default
    ``$LABKIT_MIRROR``): a workshop mirror every node pulls through (``labkit workshop serve``)."""
    import os

    from labkit.targets.kind import preflight as gate

    run = runner or default_runner()
    chosen = {NETWORK_FLAG: cni, **chosen}
    choices = choose(**chosen)
    cfg = cluster_config(workers=workers, name=name, kubernetes=kubernetes, allow_cgroup_v1=allow_cgroup_v1,
                                 **chosen)
    if preflight:
        for ch in choices:
            ch.option.check_host()
        clis, host = tools_needed(choices)
        bins = gate.resolve_tools(clis, host, cfg=cfg)
    else:
        bins = {"kind": "kind", "kubectl": "kubectl", "helm": "helm"}
    target = KubeTarget.for_kind(cfg.name, kind=bins["kind"], kubectl=bins["kubectl"], helm=bins["helm"])
    reuse = check_existing(cfg, existing_clusters(bins["kind"], run))
    if preflight and not reuse:
        gate.gates(cfg)
        if registry:
            gate.registry_port_ok()
        if verify:
            from labkit import images

            images.ensure_tools()
    if not reuse:
        atomic_write(saved_config_path(cfg.name), cfg.to_yaml())
    log(("reusing" if reuse else "creating") + f" kind cluster {cfg.name} (kubeconfig {target.kubeconfig})")
    mirror = mirror if mirror is not None else os.environ.get("LABKIT_MIRROR") or None
    script = up_script(cfg=cfg, target=target, verify=verify, registry=registry, mirror=mirror, **chosen)
    # no step times were measured where this was written (kind cannot run there): the bar counts steps and
    # estimates the rest from the pace of the steps done so far
    bar = Progress(f"labkit up: cluster {cfg.name}", [1.0] * len(script.steps), planned=False).start()
    try:
        script.run(run, on_step=lambda r: bar.step(f"{r.step.title} ({r.status})"))
    except BaseException:
        bar.close("stopped")
        raise
    bar.close()
    return target


def kind_available(cni: str | None = None, **chosen: str | None) -> tuple[bool, str]:
    """Can ``up(**chosen)`` run on this machine? (answer, reason) — for notebooks that run live only where it works."""
    from labkit import doctor
    from labkit.targets.kind.preflight import gates

    chosen = {NETWORK_FLAG: cni, **chosen}
    choices = choose(**chosen)
    clis, _ = tools_needed(choices)
    rows = {c.name: c for c in doctor.checks(ports=())}
    need = ["docker daemon", "kind", "kubectl", "privileged containers", *sorted(clis)]
    missing = [f"{n}: {rows[n].detail}" for n in need if n in rows and rows[n].status != doctor.OK]
    if missing:
        return False, "; ".join(missing)
    try:
        for ch in choices:
            ch.option.check_host()  # what up() refuses before anything is made (iSCSI, br_netfilter, workers, disk)
        gates(cluster_config(**chosen))
    except LabkitError as exc:
        return False, exc.message
    return True, "kind, kubectl, privileged containers, the host limits and the chosen options' needs are fine"
