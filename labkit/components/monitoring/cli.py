"""``labkit monitoring up|down|status``: the engine-tier stack from the terminal.

``up`` starts a *detached* stack (it outlives the command; nothing reaps it) with Prometheus, Alertmanager
and the receiver on fixed 127.0.0.1 ports (9090, 9093, 9095 unless ``--option port.<part>=N``; 0 picks a
free one), runs the verify once, and prints the URLs. The same command again reuses it (or refuses if
the options differ); ``down`` removes it; ``status`` lists its containers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labkit.components.monitoring.spec import PORTS, PUBLISHED, StackSpec, parse_ports
from labkit.errors import BadInput

#: --option keys up accepts (besides port.<part>=N)
KNOWN = ("scrape_interval", "evaluation_interval", "alert_for", "group_wait", "sd_refresh", "parts", "verify")


def spec_from(name: str, options: Mapping[str, str]) -> tuple[StackSpec, bool]:
    """The stack the CLI's ``--option KEY=VALUE`` pairs describe, and whether to verify it."""
    kw: dict[str, Any] = {}
    ports = {p: PORTS[p] for p in PUBLISHED}
    verify = True
    for key, value in options.items():
        if key.startswith("port."):
            ports.update(parse_ports([f"{key}={value}"]))
        elif key == "parts":
            kw["parts"] = tuple(p for p in value.split(",") if p)
        elif key == "verify":
            verify = value.lower() not in ("0", "false", "no", "off")
        elif key in KNOWN:
            kw[key] = value
        else:
            raise BadInput("monitoring option", key, ", ".join((*KNOWN, "port.<part>")),
                           fix="e.g. --option scrape_interval=5s --option port.prometheus=9091")
    return StackSpec(name=name, ports=ports, **kw), verify


def up(name: str = "lab", options: Mapping[str, str] | None = None) -> str:
    from labkit.components.monitoring.engine import EngineStack
    from labkit.components.monitoring.verify import verify_stack

    spec, verify = spec_from(name, options or {})
    stack = EngineStack(spec, attached=False, keep=True).__enter__()
    lines = [f"monitoring stack {spec.name} is up ({'reused' if stack.reused else 'started'}; run token "
             f"{stack.spec.token})"]
    if verify:
        lines += [c.line() for c in verify_stack(stack, alert=not stack.reused)]
    lines += [f"  Prometheus    {stack.prometheus_url}   (classic UI: /classic/graph, targets: /classic/targets)",
              f"  Alertmanager  {stack.alertmanager_url}",
              f"  receiver      {stack.receiver_url}/received   (the alerts it recorded)",
              f"remove it with: labkit monitoring down --name {spec.name}"]
    return "\n".join(lines)


def down(name: str = "lab", options: Mapping[str, str] | None = None) -> str:
    from labkit.components.monitoring.engine import EngineStack

    gone = EngineStack(StackSpec(name=name)).down()
    return f"removed {len(gone)} object(s) of monitoring stack {name}" + (f": {', '.join(gone)}" if gone else "")


def status(name: str = "lab", options: Mapping[str, str] | None = None) -> str:
    from labkit.components.monitoring.engine import EngineStack

    rows = EngineStack(StackSpec(name=name)).status()
    if not rows:
        return f"no monitoring stack named {name} (start one: labkit monitoring up --name {name})"
    width = max(len(r["part"]) for r in rows)
    return "\n".join(f"{r['part']:{width}}  {r['state']:8}  {r['container']:32}  {r['url']}" for r in rows)
