"""The trainer's offline kit, end to end on the engine tier (issue 12): a fake upstream registry holds three
images (a 2-platform OCI index under quay.io, a Docker schema2 image under docker.io pinned only by tag, an OCI
image under registry.k8s.io); ``collect`` copies them by digest into a bundle (skopeo in labkit/registry);
the upstream is removed; ``serve`` fills the mirror from the bundle; a second Docker daemon (DinD, the
non-privileged recipe of labkit.targets.swarm.dind) pulls through it the two ways a workshop laptop does:

* ``docker pull demo:1.0`` (a Docker Hub name) through dockerd's ``registry-mirrors`` (how kind gets its node
  image),
* ``ctr images pull --hosts-dir /etc/containerd/certs.d quay.io/…`` with the hosts.toml files written by the
  very steps ``labkit up --mirror`` runs on kind nodes (how kind nodes get every other image).

Each pulled digest must equal the bundle's, and the mirror's access log must show the second daemon's requests.
The kit's files (kind here, from a local fake of its release page) are served on the next port, where
``labkit tools install kind`` with ``LABKIT_DOWNLOAD_MIRROR`` installs it, checksum-verified.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from labkit import docker, images
from labkit._run import default_runner
from labkit.targets.engine import port_free
from labkit.targets.kind import plans
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.swarm.dind import DIND_CAPS, DIND_SECURITY
from labkit.workshop import bundle, mirror, serve
from labkit.workshop.copier import Source
from labkit.workshop.kit import collect
from tests.fakes import leftovers

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_ready")]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


class Layout:
    """A tiny OCI layout written by hand: images whose bytes (and so digests) this test controls."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def blob(self, data: bytes, media: str) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / "sha256" / digest).write_bytes(data)
        return {"mediaType": media, "digest": f"sha256:{digest}", "size": len(data)}

    def image(self, text: str, *, arch: str = "amd64", docker_v2: bool = False) -> dict[str, object]:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            data = f"labkit workshop sample: {text} ({arch})\n".encode()
            info = tarfile.TarInfo("etc/labkit-sample")
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
        diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
        layer = gzip.compress(raw.getvalue(), mtime=0)
        config = json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                             "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
        kinds = (DOCKER_V2, "application/vnd.docker.container.image.v1+json",
                 "application/vnd.docker.image.rootfs.diff.tar.gzip") if docker_v2 else \
            (OCI_MANIFEST, "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip")
        manifest = json.dumps({"schemaVersion": 2, "mediaType": kinds[0], "config": self.blob(config, kinds[1]),
                               "layers": [self.blob(layer, kinds[2])]}).encode()
        return self.blob(manifest, kinds[0])

    def index(self, text: str) -> dict[str, object]:
        children = [{**self.image(text, arch=a), "platform": {"os": "linux", "architecture": a}}
                    for a in ("amd64", "arm64")]
        return self.blob(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode(),
                         OCI_INDEX)


def _free_port() -> int:
    return next(p for p in range(15500, 15700) if port_free(p) and port_free(p + 1))


def _wait(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if mirror.request(url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer")


def _in(box: str, *argv: str, timeout: float = 120) -> str:
    res = default_runner().run(["docker", "exec", box, *argv], timeout=timeout, check=False)
    assert res.ok, f"{argv}: {res.stderr or res.stdout}"
    return res.stdout


def _fake_kind(httpserver) -> None:  # noqa: ANN001 - pytest-httpserver's fixture
    from labkit import tools

    spec = tools.spec("kind")
    body = f"#!/bin/sh\necho 'kind {spec['version']} go1.25.0 linux/amd64'\n".encode()
    url = str(spec["url"]).format(version=spec["version"], os="linux", arch="amd64")
    httpserver.expect_request("/" + url.split("/", 3)[3]).respond_with_data(body)
    httpserver.expect_request("/" + url.split("/", 3)[3] + ".sha256sum").respond_with_data(
        f"{hashlib.sha256(body).hexdigest()}  kind-linux-amd64\n")


def test_a_second_daemon_pulls_the_bundle_through_the_mirror(tmp_path: Path, httpserver,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit import releases, tools

    monkeypatch.setattr(tools, "platform_key", lambda: "linux-amd64")
    _fake_kind(httpserver)
    registry_image, dind_image = images.ensure("registry"), images.ensure_dind()
    fakes = Layout(tmp_path / "upstream-layout")
    made = {"quay.io/demo/agent": fakes.index("agent"), "docker.io/library/demo": fakes.image("demo", docker_v2=True),
            "registry.k8s.io/demo/pause": fakes.image("pause")}
    t0 = time.monotonic()
    with docker.Scope() as scope:
        s = scope.session
        net = scope.network(f"lk-{s}-ws").name
        up, up_port, mir_name, port = f"lk-{s}-upstream", _free_port(), f"lk-{s}-mirror", 0
        scope.container(registry_image, name=up, network=net, role="workshop-test-upstream",
                        ports={"5000/tcp": ("127.0.0.1", up_port)})
        _wait(f"http://127.0.0.1:{up_port}/v2/")
        for repo, desc in made.items():
            mirror.push(fakes.root, str(desc["digest"]), f"http://127.0.0.1:{up_port}", repo, tag="1.0")
        agent, demo, pause = (str(made[r]["digest"]) for r in made)
        wanted = {f"quay.io/demo/agent:1.0@{agent}": {"t"}, "demo:1.0": {"t"},  # pinned by tag only
                  f"registry.k8s.io/demo/pause@{pause}": {"t"}}
        source = Source({h: f"{up}:5000/{h}" for h in ("quay.io", "docker.io", "registry.k8s.io")},
                        frozenset({f"{up}:5000"}), net)
        man = collect(tmp_path / "bundle", images=wanted, source=source, platforms=["linux-amd64"], tools=("kind",),
                      mirror=httpserver.url_for(""))
        t_prepare = time.monotonic() - t0
        assert {i["digest"] for i in bundle.images(man)} == {agent, demo, pause}
        assert next(i for i in bundle.images(man) if i["digest"] == agent)["platforms"] == ["linux/amd64",
                                                                                           "linux/arm64"]
        docker.remove_container(docker.container(up))  # from here on, the images exist only in the bundle

        try:
            port = _free_port()
            t1 = time.monotonic()
            served = serve(tmp_path / "bundle", port=port, bind="127.0.0.1", network=net, name=mir_name, session=s)
            t_serve = time.monotonic() - t1
            assert all(r["ok"] and r["pushed"] for r in served["images"])
            again = serve(tmp_path / "bundle", port=port, bind="127.0.0.1", network=net, name=mir_name, session=s)
            assert not any(r["pushed"] for r in again["images"])  # a second serve only checks
            httpserver.clear()  # from here on the release page is gone too: the kit serves kind
            kind = releases.install("kind", dest=tmp_path / "bin", mirror=f"http://127.0.0.1:{port + 1}")
            assert tools.read_version("kind", str(kind))[0] == str(tools.spec("kind")["version"]).lstrip("v")

            node = f"lk-{s}-node"
            box = docker.create_raw(dind_image, name=node, hostname="node", network=net,
                                    command=["--registry-mirror", f"http://{mir_name}:5000",
                                             "--insecure-registry", f"{mir_name}:5000"],
                                    labels_=docker.labels(s, "workshop-test-node"),
                                    host_config={"security_opt": DIND_SECURITY, **DIND_CAPS},
                                    host_config_extra={"MaskedPaths": [], "ReadonlyPaths": []})
            scope.adopt(box)
            docker.start(box)
            deadline = time.monotonic() + 90
            while not docker.exec_in(box, ["docker", "info"], timeout=10, quiet=True).ok:
                assert time.monotonic() < deadline, docker.logs(box)
                time.sleep(0.3)
            assert _in(node, "docker", "images", "-q").strip() == ""

            t2 = time.monotonic()
            _in(node, "docker", "pull", "demo:1.0")
            digests = _in(node, "docker", "image", "inspect", "-f", "{{json .RepoDigests}}", "demo:1.0")
            assert f"demo@{demo}" in digests  # dockerd's registry-mirrors: a Docker Hub name, from the mirror

            for step in plans.mirror_plan(ClusterConfig(name="labkit", workers=0), f"{mir_name}:5000").steps:
                argv = [node if a == "labkit-control-plane" else a for a in step.cmd.argv]
                default_runner().run(argv, stdin=step.cmd.stdin, timeout=60)  # the steps `labkit up --mirror` runs
            ctr = ["ctr", "--address", "/var/run/docker/containerd/containerd.sock", "--namespace", "lkws"]
            for ref, digest in (("quay.io/demo/agent:1.0", agent), (f"quay.io/demo/agent@{agent}", agent),
                                (f"registry.k8s.io/demo/pause@{pause}", pause), ("docker.io/library/demo:1.0", demo)):
                _in(node, *ctr, "images", "pull", "--hosts-dir", "/etc/containerd/certs.d", ref)
                listed = _in(node, *ctr, "images", "ls")
                assert re.search(rf"^{re.escape(ref)}\s+\S+\s+{digest}\s", listed, re.M), listed
            t_pulls = time.monotonic() - t2
            log = default_runner().run(["docker", "logs", mir_name], timeout=30, check=False)
            text = log.stdout + log.stderr
            assert re.search(r'"GET /v2/quay\.io/demo/agent/manifests/\S+ HTTP/1\.1" 200 .*containerd/', text)
            assert re.search(r'"GET /v2/library/demo/manifests/\S+ HTTP/1\.1" 200 .*docker/', text)
            print(f"prepare {t_prepare:.1f} s, serve {t_serve:.1f} s, pulls {t_pulls:.1f} s; "
                  f"bundle {man['size_bytes']} bytes, {len(bundle.images(man))} images")
        finally:
            mirror.stop(mir_name)
            subprocess.run(["docker", "volume", "rm", f"{mir_name}-data"], capture_output=True, timeout=60)
    assert leftovers(s) == []
