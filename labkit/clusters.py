"""Clusters for the chapters, in one place: plan, bring up, verify, connect, remove.

The public face of :mod:`labkit.components.up` (composing components onto a kind cluster),
:mod:`labkit.targets.kind` (its lifecycle) and :mod:`labkit.components.connect` (clusters labkit
did not make). Notebooks and scripts use this module; the modules behind it may move.

>>> script = up_script(cni="calico", storage="openebs")     # doctest: +SKIP
>>> print(script.explain())                                 # every command, nothing run
>>> target = up(cni="calico", storage="openebs")            # doctest: +SKIP  the same commands, run
"""

from __future__ import annotations

from labkit.components.connect import Connected, connect
from labkit.components.up import choose, cluster_config, flags, kind_available, up, up_script
from labkit.targets.kind.lifecycle import ClusterConflict, down, load_images
from labkit.targets.kind.plans import delete_plan
from labkit.targets.kube import KubeTarget, kubeconfig_path

__all__ = ["ClusterConflict", "Connected", "KubeTarget", "choose", "cluster_config", "connect", "delete_plan",
           "down", "flags", "kind_available", "kubeconfig_path", "load_images", "up", "up_script"]
