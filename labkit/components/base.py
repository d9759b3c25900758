"""What a component option is, the table of a component's options, and a component's registration.

A *component* is one of the eight chapters' subjects (network, storage, monitoring, …); an *option*
is one product that provides it (Calico, Longhorn, kube-prometheus-stack, …). Every installable
option answers the same questions, so ``labkit up`` can compose any of them (:mod:`labkit.components.up`):

* ``config_needs()`` — kind config fields it requires (``disable_default_cni``, a node image, …);
* ``check_config(cfg)`` / ``check_host()`` — refuse, before anything is made, what cannot work;
* ``tools()`` — CLIs beyond kind and kubectl (``helm``);
* ``before_create(cfg)`` — plans that must run before the cluster exists (a node image to build);
* ``install(target, cfg)`` / ``verify(target, image=…)`` / ``uninstall(target)`` — :class:`~labkit.steps.Plan`\\ s;
* ``manifests(cfg)`` / ``helm_values(cfg)`` — everything labkit writes, for strict schema tests.

Options labkit explains but does not install (Weave: retired; Rook-Ceph: real clusters only) are
:class:`NotInstalled` entries of the same table, so asking for one gives the reason and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from labkit.errors import BadInput, LabkitError, Unavailable
from labkit.versions import environments_dir, pins

if TYPE_CHECKING:
    from labkit.steps import Plan
    from labkit.targets.kind.config import ClusterConfig
    from labkit.targets.kube import KubeTarget


class Retired(LabkitError):
    """A component option labkit deliberately does not install (the project is dead or unsafe to pin)."""


def pin(component: str, name: str) -> dict[str, Any]:
    """The ``components.<component>.<name>`` entry of environments/versions.yaml ({} if absent)."""
    return dict((pins()["components"].get(component) or {}).get(name) or {})


def load_values(relative: str) -> dict[str, Any]:
    """A Helm values file from environments/ (the path as versions.yaml names it)."""
    import yaml

    return dict(yaml.safe_load((environments_dir() / relative).read_text()) or {})


VALUES_SOURCES = "values.sources.yaml"


def lazy_exports(package: str, exports: Mapping[str, str], modules: Sequence[str] = ()) -> Callable[[str], Any]:
    """A component package's ``__getattr__``: ``network.option``, ``mesh.verify`` … imported on first use, so
    ``from labkit import mesh`` stays light. ``exports`` maps a public name to the module defining it;
    ``modules`` are the package's modules that may be reached as attributes."""
    import importlib

    def __getattr__(name: str) -> Any:
        if name in modules:
            return importlib.import_module(f"{package}.{name}")
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
    return __getattr__


def leaf_keys(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``: every value labkit sets, by its dotted Helm key."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(leaf_keys(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def load_values_sources(relative: str) -> dict[str, dict[str, Any]]:
    """The ``values.sources.yaml`` beside the values file ``relative`` (under environments/): dotted key →
    ``{source, default, why}``, the upstream values.yaml at the chart's tag that documents the key, its
    upstream default, and why labkit sets it otherwise. Missing file → {}."""
    import yaml

    path = (environments_dir() / relative).parent / VALUES_SOURCES
    if not path.is_file():
        return {}
    return {str(k): dict(v) for k, v in (yaml.safe_load(path.read_text()) or {}).items()}


def values_why(values: Mapping[str, Any], sources: Mapping[str, Mapping[str, Any]]) -> str:
    """One line per key labkit sets, with upstream's default and the source: for explain mode and --plan."""
    lines = []
    for key, value in leaf_keys(values).items():
        entry = sources.get(key)
        if entry is None:
            lines.append(f"{key}={value!r} (no source recorded)")
            continue
        lines.append(f"{key}={value!r} (upstream default {entry.get('default')!r}: {entry.get('why', '')}; "
                     f"{entry.get('source', '')})")
    return "; ".join(lines)


@dataclass(frozen=True)
class Option:
    """One installable product of a component; ``version`` defaults to its pin in versions.yaml."""

    component: ClassVar[str] = ""
    name: str = ""
    title: str = ""
    version: str = ""
    design: str = ""  # a paragraph for the chapter: how it works, what it costs

    def __post_init__(self) -> None:
        if not self.version and "version" in self.pin:
            object.__setattr__(self, "version", str(self.pin["version"]))

    @property
    def pin(self) -> dict[str, Any]:
        return pin(self.component, self.name)

    # -- what the cluster and the host must offer ------------------------------------------------------
    def config_needs(self) -> dict[str, Any]:
        return {}

    def check_config(self, cfg: ClusterConfig) -> None:
        """Raise :class:`BadInput` when ``cfg`` conflicts with this option, naming the fix."""
        for key, want in self.config_needs().items():
            have = getattr(cfg, key)
            if have != want:
                raise BadInput(f"kind config {key} for {self.name}", have, repr(want),
                               fix=f"ClusterConfig(..., {key}={want!r}); `labkit up` does this for you")

    def check_host(self) -> None:
        """Raise :class:`Unavailable` when this host cannot run the option."""

    def tools(self) -> frozenset[str]:
        return frozenset()

    # -- plans ---------------------------------------------------------------------------------------
    def before_create(self, cfg: ClusterConfig) -> list[Plan]:
        return []

    def install(self, target: KubeTarget, cfg: ClusterConfig) -> Plan:
        raise NotImplementedError

    def verify(self, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None) -> Plan | None:
        return None

    def uninstall(self, target: KubeTarget) -> Plan:
        raise NotImplementedError

    def manifests(self, cfg: ClusterConfig) -> list[dict[str, Any]]:
        """Objects labkit itself writes for this option (built-in kinds and CRDs alike)."""
        return []

    def helm_values(self, cfg: ClusterConfig | None = None) -> dict[str, Any] | None:
        return None

    def values_files(self) -> tuple[str, ...]:
        """The Helm values files (paths under environments/) this option may send: its pin's ``values*``."""
        return tuple(str(v) for k, v in sorted(self.pin.items()) if k.startswith("values") and isinstance(v, str))

    def values_sources(self) -> dict[str, dict[str, Any]]:
        """Dotted Helm key → {source, default, why} from the ``values.sources.yaml`` beside its values files."""
        out: dict[str, dict[str, Any]] = {}
        for relative in self.values_files():
            out.update(load_values_sources(relative))
        return out

    def row(self) -> dict[str, Any]:
        """This option's line in the chapter's options table."""
        return {"option": self.name, "version": self.version}


@dataclass(frozen=True)
class NotInstalled:
    """An option labkit explains but does not install: ``refuse()`` says why and what to do instead."""

    name: str
    title: str
    why: str
    fix: str
    retired: bool = False  # True: the project is dead (Retired); False: it needs a real cluster (Unavailable)
    design: str = ""
    columns: Mapping[str, Any] = field(default_factory=dict)

    def refuse(self) -> LabkitError:
        text = f"{self.title} is {'retired' if self.retired else 'not installed on kind'}: {self.why}"
        return Retired(text, fix=self.fix) if self.retired else Unavailable(text, fix=self.fix)

    def row(self) -> dict[str, Any]:
        return {"option": self.name, "version": "retired" if self.retired else "-", **self.columns}


class Options:
    """A component's options by name: look one up (``calico``, ``calico@v3.32.1``), list, tabulate."""

    def __init__(self, component: str, what: str, entries: Mapping[str, Option | NotInstalled], *,
                 example: str) -> None:
        self.component, self.what, self.example = component, what, example
        self._entries = dict(entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def items(self) -> list[tuple[str, Option | NotInstalled]]:
        return list(self._entries.items())

    @property
    def installable(self) -> tuple[str, ...]:
        return tuple(k for k, v in self._entries.items() if isinstance(v, Option))

    def _refused(self) -> str:
        out = [k for k, v in self._entries.items() if isinstance(v, NotInstalled)]
        return f" (not installed: {', '.join(out)})" if out else ""

    def get(self, name: str, version: str | None = None) -> Option:
        """The option ``name`` (``name@version`` names its version too).

        Unknown → :class:`BadInput` listing the choices; a :class:`NotInstalled` one → its reason; a
        version other than the pinned one → :class:`BadInput`: labkit installs the version it tests."""
        if not isinstance(name, str) or not name.strip():
            raise BadInput(self.what, name, ", ".join(self.installable) + self._refused(), fix=self.example)
        if "@" in name and version is None:
            name, version = name.split("@", 1)
        if name not in self._entries:
            raise BadInput(self.what, name, ", ".join(self.installable) + self._refused(), fix=self.example)
        opt = self._entries[name]
        if isinstance(opt, NotInstalled):
            raise opt.refuse()
        if version is not None and version.lstrip("v") != str(opt.version).lstrip("v"):
            raise BadInput(f"{name} version", version, f"{opt.version} (the pinned, tested one)",
                           fix=f"drop the version; to try another one, change components.{self.component}.{name} "
                               "in environments/versions.yaml (and its golden plans) on purpose")
        return opt

    def table(self) -> Any:
        """The options side by side (a pandas DataFrame), for the chapter."""
        import pandas as pd

        rows = [e.row() for e in self._entries.values()]
        columns = list(dict.fromkeys(k for r in rows for k in r))
        return pd.DataFrame(rows, columns=columns).fillna("-")


@dataclass(frozen=True)
class Component:
    """One registered component: its chapter, its options, its ``labkit up`` flag and its bench suites.

    ``options`` and ``suites`` are loaded lazily (``import labkit`` stays light)."""

    name: str
    title: str
    chapter: str
    options: Callable[[], Options] | None = None
    up_flag: str | None = None  # `labkit up --<flag> OPTION`
    up_order: int = 100  # network installs first (10), storage next (20), then the rest
    suites: Callable[[], list[Any]] = field(default=lambda: [])
    summary: str = ""  # the options, in a few words, for the chapter table
    live_on: str = "engine"  # where the chapter runs live: engine, kind, cluster
    binder: str = "read only"  # what works without Docker (Binder): read only, plans only, replay
    # `labkit <name> up|down|status`: a component's engine-tier stack from the terminal (optional). Each takes
    # (name: str, options: dict[str, str]) and returns the text to print.
    engine_up: Callable[..., str] | None = None
    engine_down: Callable[..., str] | None = None
    engine_status: Callable[..., str] | None = None

    def option(self, name: str) -> Option:
        if self.options is None:
            raise BadInput(f"{self.name} option", name, "none: this component installs nothing on kind")
        return self.options().get(name)
