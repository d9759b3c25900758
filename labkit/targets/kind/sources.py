"""Where each kind-tier step comes from: upstream URLs pinned to the versions a cluster actually uses.

Every :class:`~labkit.steps.Step` of a kind plan names its ``source`` (DESIGN §6.7). The URLs here are
built from the pins, never typed with a version in them, so a pin change moves every citation with it:

* kind's own docs and code at the kind release that published the node image (``min_kind``:
  kindest/node v1.36.1 → kind v0.32.0), because that is the release whose behaviour the image has;
* Kubernetes docs at the cluster's minor (kubernetes/website ``release-1.36``) and Kubernetes source
  at the node image's patch release (kubernetes/kubernetes ``v1.36.1``).

``labkit(why)`` marks a step labkit adds on its own, with the reason (a check upstream has no step for).
"""

from __future__ import annotations

from labkit.targets.kind.config import NodeImage, node_image_pin

KIND = "https://github.com/kubernetes-sigs/kind/blob/v{version}/{path}"
K8S_WEBSITE = "https://github.com/kubernetes/website/blob/release-{minor}/content/en/{path}"
K8S_SOURCE = "https://github.com/kubernetes/kubernetes/blob/{tag}/{path}"

# Files cited by more than one step.
KIND_QUICK_START = "site/content/docs/user/quick-start.md"
KIND_CONFIGURATION = "site/content/docs/user/configuration.md"
KIND_REGISTRY_SCRIPT = "site/static/examples/kind-with-registry.sh"
KUBECTL_WAIT = "staging/src/k8s.io/kubectl/pkg/cmd/wait/wait.go"
COREDNS_MANIFEST = "cmd/kubeadm/app/phases/addons/dns/manifests.go"


def _image(kubernetes: str | None) -> NodeImage:
    return node_image_pin(kubernetes)


def kind_version(kubernetes: str | None = None) -> str:
    """The kind release whose docs describe the node image of ``kubernetes`` (the pinned minor if None)."""
    return _image(kubernetes).min_kind


def kind(path: str, kubernetes: str | None = None, line: str = "") -> str:
    """A file of kubernetes-sigs/kind at the release that published the cluster's node image."""
    return KIND.format(version=kind_version(kubernetes), path=path) + (f"#{line}" if line else "")


def kubernetes_tag(kubernetes: str | None = None) -> str:
    """``v1.36.1``: the Kubernetes release inside the pinned node image."""
    return _image(kubernetes).tag.rsplit(":", 1)[1]


def k8s_doc(path: str, kubernetes: str | None = None) -> str:
    """A kubernetes.io page's source at the cluster's minor (``docs/concepts/...md``)."""
    return K8S_WEBSITE.format(minor=_image(kubernetes).kubernetes, path=path)


def k8s_source(path: str, kubernetes: str | None = None, line: str = "") -> str:
    """A file of kubernetes/kubernetes at the node image's release."""
    return K8S_SOURCE.format(tag=kubernetes_tag(kubernetes), path=path) + (f"#{line}" if line else "")


def labkit(why: str) -> str:
    """The source of a step labkit adds itself: ``labkit: <why upstream has no such step>``."""
    return f"labkit: {why}"
