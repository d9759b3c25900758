"""Component: the container engine (chapter 01) — a container from the inside, and start latency per runtime.

========================= =====================================================================
inside.py                 namespaces, cgroup files, overlay copy-up and whiteouts, image anatomy
start_cells.py            start latency: docker/podman × runc/crun, containerd via ctr
quiz.py                   live values the chapter's questions check, and the overlay picture
========================= =====================================================================
"""

from __future__ import annotations

from typing import Any

from labkit.components.base import Component, lazy_exports


def _suites() -> list[Any]:
    from labkit.bench.registry import Suite, TargetCells
    from labkit.components.engine import start_cells
    from labkit.errors import Unavailable

    def tests(request: Any, prof: Any) -> list[Any]:
        return list(start_cells.start_tests(list(request.tests) if request.tests else None))

    def in_a_cluster(request: Any) -> Any:
        raise Unavailable("start-latency cells measure the local engines (docker, podman, containerd); a kind "
                          "node's containerd is shown with crictl in chapter 01", fix="use target='engine'")

    elsewhere = TargetCells(in_a_cluster, start_cells.open_cell)
    return [Suite("engine", "engine", "container start latency per engine and runtime", tests,
                  {"engine": TargetCells(lambda r: dict(start_cells.CELLS), start_cells.open_cell),
                   "kind": elsewhere, "cluster": elsewhere},
                  reps=lambda prof: prof.start_reps)]


COMPONENT = Component("engine", "Container engine", "01-engine", suites=_suites,
                      summary="dockerd/containerd/runc, crun, Podman; OCI images",
                      live_on="engine", binder="read only")

#: Public names of this component and the module that defines each (imported on first use).
_EXPORTS = {name: "inside" for name in ("OVERLAY_SCRIPT", "namespaces", "namespaces_commands", "cgroup_limits",
                                        "overlay_write", "image_anatomy", "engine_stack",
                                        "node_containers")}
_EXPORTS.update({name: "start_cells" for name in ("CELLS", "run_argv", "load_times", "load_commands",
                                                 "engine_image_size")})
_EXPORTS.update({name: "quiz" for name in ("QUIZ_CONTAINER", "quiz_container", "memory_limit", "docker_memory_limit",
                                          "image_layer_count", "chapter_volumes", "overlay_diagram",
                                          "layer_facts")})


__getattr__ = lazy_exports(__name__, _EXPORTS)
