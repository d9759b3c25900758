"""Components the chapters install (network now; storage, monitoring, … later), as plans of steps."""

from __future__ import annotations

import re
from typing import Any

# Plain scalars a YAML 1.2 parser (kubectl's) reads as numbers or booleans although PyYAML (YAML 1.1) would
# write them unquoted: 12e4, 0123, 0x1f, 0o17, .5, yes/no/on/off (1.1 booleans quoted anyway).
_NUMERIC = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^0[xob][0-9a-fA-F_]+$")


def to_yaml(objs: list[dict[str, Any]]) -> str:
    """Manifests as one multi-document YAML, multi-line strings as readable ``|`` blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else ("'" if _NUMERIC.match(value) else None)
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return "---\n".join(yaml.dump(o, Dumper=Dumper, sort_keys=False) for o in objs)


def rollout_step(target: Any, namespace: str, what: str, timeout_s: int, title: str) -> Any:
    """``kubectl rollout status`` as a step, with pods, the object and the namespace's events on failure."""
    from labkit._run import Cmd
    from labkit.steps import Step

    k = target.kubectl
    return Step(title, Cmd(k("rollout", "status", "-n", namespace, what, f"--timeout={timeout_s}s")),
                timeout=timeout_s + 30,
                diagnose=(Cmd(k("get", "pods", "-n", namespace, "-o", "wide")),
                          Cmd(k("describe", what, "-n", namespace)),
                          Cmd(k("get", "events", "-n", namespace, "--sort-by=.lastTimestamp"))))
