"""What the kind chapters pull, read from the very plans ``labkit up`` runs (``labkit up … --plan`` data).

For every installable option of every component (``--cni calico``, ``--storage openebs``, …) the
``up_script`` is walked step by step:

* ``kind create cluster``: the node image(s) of the config on stdin;
* ``docker run … IMAGE``: images the host pulls (kind's local registry);
* ``kubectl apply|create -f URL``: manifests, downloaded later and read for images;
  ``-f -``: the manifest on stdin, read now;
* ``helm repo add`` + ``helm upgrade --install``: charts (repository, chart, version, namespace, values),
  pulled and rendered with ``helm template`` later;
* ``curl … URL``: files the plan downloads (Flannel's CNI plugins).

Images an operator chooses at run time appear in no manifest: ``environments/workshop.yaml`` lists them
per option, with the upstream source of each list. The lab's own images (``labkit/…``) are built and
loaded locally and never pulled, so they are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from labkit.workshop.refs import ImageRef, looks_like_image

POD_LISTS = ("containers", "initContainers", "ephemeralContainers")
NOT_WORKLOADS = {"ConfigMap", "Secret", "CustomResourceDefinition"}
LOCAL_PREFIXES = ("labkit/", "docker.io/labkit/")


@dataclass(frozen=True)
class Chart:
    """A chart a plan installs, with what ``helm template`` needs to render it the same way."""

    alias: str
    repo: str
    name: str
    version: str
    release: str
    namespace: str
    values: str  # the values YAML the plan passes on stdin ("" when none)
    why: str


@dataclass
class Inventory:
    images: dict[str, set[str]] = field(default_factory=dict)  # reference -> why (option: where it was found)
    likely: dict[str, set[str]] = field(default_factory=dict)  # found outside PodSpecs (flags, env, CRs)
    charts: list[Chart] = field(default_factory=list)
    manifests: dict[str, set[str]] = field(default_factory=dict)  # URL -> why
    files: dict[str, set[str]] = field(default_factory=dict)  # URL -> why
    kubernetes: str = ""  # the node image's version, for helm template --kube-version

    def add_image(self, ref: str, why: str, *, likely: bool = False) -> None:
        ref = ref.strip()
        if ref.startswith(LOCAL_PREFIXES) or not looks_like_image(ref):
            return
        if ":" in ImageRef.parse(ref).host:  # localhost:5001/…: kind's local registry, filled on the spot
            return
        (self.likely if likely and ref not in self.images else self.images).setdefault(ref, set()).add(why)
        if not likely:
            self.likely.pop(ref, None)

    def all_images(self) -> list[str]:
        return sorted({*self.images, *self.likely})


def option_scripts(only: Iterable[str] = (), *, kubernetes: str | None = None) -> Iterator[tuple[str, Any]]:
    """(``component/option``, the ``labkit up`` Script that installs it) for every installable option, or only
    those named (``network/calico``, ``calico``). Other components' options sit on the default CNI."""
    from labkit.components import up
    from labkit.errors import BadInput

    wanted = set(only)
    known = []
    for flag, comp in up.flags().items():
        for name in comp.options().installable if comp.options else ():
            label = f"{comp.name}/{name}"
            known.append(label)
            if wanted and label not in wanted and name not in wanted:
                continue
            chosen = {flag: name} if flag == up.NETWORK_FLAG else {up.NETWORK_FLAG: up.DEFAULT_CNI, flag: name}
            yield label, up.up_script(kubernetes=kubernetes, **chosen)  # type: ignore[arg-type]
    unknown = {w for w in wanted if w not in known and w not in {k.split("/")[1] for k in known}}
    if unknown:
        raise BadInput("option to prepare", ", ".join(sorted(unknown)), ", ".join(known),
                       fix="name options as component/option, e.g. network/calico")


def _after(argv: tuple[str, ...], flag: str) -> str | None:
    for i, a in enumerate(argv[:-1]):
        if a == flag:
            return argv[i + 1]
    for a in argv:
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def _docker_run_image(argv: tuple[str, ...]) -> str | None:
    rest = list(argv[argv.index("run") + 1:])
    bools = {"-d", "--detach", "--rm", "-i", "-t", "-it", "--init", "--privileged", "--read-only"}
    while rest:
        a = rest.pop(0)
        if not a.startswith("-"):
            return a
        if a not in bools and "=" not in a and rest:
            rest.pop(0)
    return None


def read_plans(scripts: Iterable[tuple[str, Any]]) -> Inventory:
    """The inventory the scripts' steps name (manifests by URL and charts are read later, see bundle)."""
    import yaml

    inv = Inventory()
    for label, script in scripts:
        aliases: dict[str, str] = {}
        for plan in script.plans:
            for step in plan.steps:
                argv, stdin = tuple(step.cmd.argv), step.cmd.stdin
                tool = argv[0].rsplit("/", 1)[-1] if argv else ""
                why = f"{label}: {step.title}"
                if tool == "kind" and argv[1:3] == ("create", "cluster") and stdin:
                    for node in (yaml.safe_load(stdin) or {}).get("nodes", []):
                        if node.get("image"):
                            inv.add_image(node["image"], f"{label}: kind node image")
                            inv.kubernetes = node["image"].split(":", 1)[1].split("@")[0].lstrip("v")
                elif tool == "docker" and "run" in argv:
                    image = _docker_run_image(argv)
                    if image:
                        inv.add_image(image, why)
                elif tool == "kubectl" and ("apply" in argv or "create" in argv):
                    source = _after(argv, "-f") or _after(argv, "--filename")
                    if source and source.startswith(("http://", "https://")):
                        inv.manifests.setdefault(source, set()).add(why)
                    elif source == "-" and stdin:
                        images_in_yaml(stdin, inv, why)
                elif tool == "helm" and argv[1:3] == ("repo", "add"):
                    aliases[argv[3]] = argv[4]
                elif tool == "helm" and ("install" in argv or "--install" in argv):
                    chart = _helm_chart(argv, aliases, stdin or "", why)
                    if chart and chart not in inv.charts:
                        inv.charts.append(chart)
                elif tool == "curl":
                    for a in argv:
                        if a.startswith(("http://", "https://")):
                            inv.files.setdefault(a, set()).add(why)
    return inv


def _helm_chart(argv: tuple[str, ...], aliases: dict[str, str], values: str, why: str) -> Chart | None:
    words = [a for a in argv[1:] if a not in ("upgrade", "install", "--install")]
    positional, i = [], 0
    while i < len(words):
        if words[i].startswith("-"):
            i += 1 if "=" in words[i] or words[i] in ("--wait", "--atomic", "--create-namespace") else 2
            continue
        positional.append(words[i])
        i += 1
    if len(positional) < 2 or "/" not in positional[1]:
        return None
    alias, name = positional[1].split("/", 1)
    repo = _after(argv, "--repo") or aliases.get(alias, "")
    return Chart(alias, repo, name, _after(argv, "--version") or "", positional[0],
                 _after(argv, "--namespace") or _after(argv, "-n") or "default",
                 values if _after(argv, "--values") == "-" or _after(argv, "-f") == "-" else "", why)


def images_in_documents(docs: Iterable[Any], inv: Inventory, why: str) -> None:
    """Images named by rendered Kubernetes documents, into ``inv``.

    Certain: ``image`` of every container in every PodSpec-shaped mapping (any mapping with a ``containers``
    list: Pods, workload templates at any depth, ``kind: List`` items, custom resources embedding a PodSpec).
    Likely: other ``image`` keys outside ConfigMaps/Secrets/CRDs, ``--…image=REF`` flags in a container's
    command/args, and env vars named ``…IMAGE`` (how operators are told which images to start)."""

    def container(c: dict[str, Any]) -> None:
        if isinstance(c.get("image"), str):
            inv.add_image(c["image"], why)
        words = [str(w) for w in (c.get("command") or []) + (c.get("args") or [])]
        for j, w in enumerate(words):
            flag, _, value = w.partition("=")
            if flag.startswith("--") and "image" in flag.lower():
                value = value or (words[j + 1] if j + 1 < len(words) else "")
                inv.add_image(value, f"{why} ({flag})", likely=True)
        for env in c.get("env") or []:
            if isinstance(env, dict) and str(env.get("name", "")).upper().endswith("IMAGE"):
                inv.add_image(str(env.get("value") or ""), f"{why} (env {env['name']})", likely=True)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("containers"), list):
                for key in POD_LISTS:
                    for c in node.get(key) or []:
                        if isinstance(c, dict):
                            container(c)
            for k, v in node.items():
                if k == "image" and isinstance(v, str):
                    inv.add_image(v, why, likely=True)
                elif k not in POD_LISTS:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") in NOT_WORKLOADS:
            continue
        for item in doc.get("items", []) if doc.get("kind") == "List" else [doc]:
            walk(item)


def images_in_yaml(text: str, inv: Inventory, why: str) -> None:
    import yaml

    images_in_documents((d for d in yaml.safe_load_all(text) if d is not None), inv, why)


def extras(labels: Iterable[str], inv: Inventory) -> None:
    """Add the images operators choose at run time (``environments/workshop.yaml``) for these options."""
    import yaml

    from labkit.versions import project_root

    data = yaml.safe_load((project_root() / "environments" / "workshop.yaml").read_text()) or {}
    for label in labels:
        entry = (data.get("operator_images") or {}).get(label)
        for ref in (entry or {}).get("images", []):
            inv.add_image(ref, f"{label}: chosen by the operator at run time ({entry.get('source', '')})")
