"""What is refused before a stack exists: a rule or config promtool rejects, a port that is taken.

promtool and amtool run in throwaway containers (no network, the files put in with ``docker cp``), from
the same images the stack runs, so the check is exactly the parser that would load the files.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from labkit import docker
from labkit.components.monitoring import images
from labkit.components.monitoring.configs import CONFIG_DIR
from labkit.components.monitoring.parts import files_for, tar_of
from labkit.components.monitoring.spec import PUBLISHED, StackSpec
from labkit.errors import LabkitError, PortInUse


class StackError(LabkitError):
    """A monitoring stack could not be brought up (the message says which part and why)."""


class StackConflict(StackError):
    """A stack of that name already runs with a different config."""


class PromtoolRejected(StackError):
    """promtool (or amtool) rejected a rule or config file: nothing was started. ``output`` is its text."""

    def __init__(self, message: str, output: str, *, fix: str) -> None:
        self.output = output
        super().__init__(message, fix=fix)


def check_ports(spec: StackSpec, *, port_free: object = None) -> None:
    """Every fixed host port of the stack must be free on 127.0.0.1 (0 or unset: any free port)."""
    from labkit.targets.engine import port_free as free

    is_free = port_free if callable(port_free) else free
    for part in PUBLISHED:
        port = spec.ports.get(part, 0)
        if port and not is_free(port):
            raise PortInUse(port, fix=f"stop what listens there (`ss -ltnp 'sport = :{port}'`), or choose another "
                                      f"port for {part}: `--option port.{part}=N` (CLI) or StackSpec(ports="
                                      f"{{'{part}': N}}); 0 picks any free one")


def _run_tool(image: str, argv: list[str], files: Mapping[str, bytes], *, labels: Mapping[str, str],
              timeout: float = 60) -> tuple[int, str]:
    """Run a one-shot tool on ``files`` in a throwaway container; (exit code, its output)."""
    box = docker.create(image, argv[1:], role="monitoring-check", entrypoint=[argv[0]], network_mode="none",
                        labels=dict(labels))
    try:
        docker.put_archive(box, "/", tar_of(files))
        docker.start(box)
        code = docker.wait(box, timeout=timeout)
        return code, docker.logs(box, tail=400)
    finally:
        docker.remove_container(box)


def promtool(rendered: Mapping[str, bytes], *, labels: Mapping[str, str]) -> str:
    """``promtool check rules`` on every rule file, then ``promtool check config``; promtool's text on success.

    :class:`PromtoolRejected` carries promtool's own message (stdout and stderr interleave in the log, so
    match on content, not on line order)."""
    files = files_for("prometheus", rendered)
    rule_files = [f"/{p}" for p in files if not p.endswith("/prometheus.yml")]
    script = 'promtool check rules "$@" && promtool check config "$0"'
    argv = ["sh", "-c", script, f"{CONFIG_DIR}/prometheus.yml", *rule_files]
    code, out = _run_tool(images.of("prometheus"), argv, files, labels=labels)
    if code != 0:
        shown = f"promtool check rules {shlex.join(rule_files)} && promtool check config {CONFIG_DIR}/prometheus.yml"
        raise PromtoolRejected(f"promtool rejected the stack's rules or config (exit {code}); nothing was started:\n"
                               f"$ {shown}\n{out.strip()}", out,
                               fix="correct the rule file (the line:column above is promtool's), then start again")
    return out


def amtool(rendered: Mapping[str, bytes], *, labels: Mapping[str, str]) -> str:
    files = files_for("alertmanager", rendered)
    code, out = _run_tool(images.of("alertmanager"), ["amtool", "check-config", f"{CONFIG_DIR}/alertmanager.yml"],
                          files, labels=labels)
    if code != 0:
        raise PromtoolRejected(f"amtool rejected alertmanager.yml (exit {code}); nothing was started:\n"
                               f"{out.strip()}", out, fix="correct the Alertmanager config")
    return out
