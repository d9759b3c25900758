"""The trainer's offline kit without Docker: references, hosts.toml, what the plans pull, the bundle format,
downloads through a local fake upstream (pytest-httpserver), and clear errors for bad input.

The end-to-end proof with real registries and a second Docker daemon is tests/engine/test_workshop_mirror.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

from labkit import docker
from labkit.errors import BadInput, ChecksumMismatch, DownloadFailed, PortInUse
from labkit.targets.kind import plans
from labkit.targets.kind.config import ClusterConfig
from labkit.workshop import bundle, fetch, inventory, mirror, room
from labkit.workshop.kit import collect
from labkit.workshop.refs import ImageRef

D = "sha256:" + "a" * 64
HELM = Path(os.environ.get("LABKIT_TOOLS_CACHE", Path.home() / ".cache" / "labkit" / "test-tools")) / "helm"


@pytest.mark.parametrize(("ref", "host", "path", "tag", "digest", "mirror_path"), [
    ("nginx", "docker.io", "library/nginx", "latest", None, "library/nginx"),
    ("registry:3", "docker.io", "library/registry", "3", None, "library/registry"),
    ("kindest/node:v1.36.1@" + D, "docker.io", "kindest/node", "v1.36.1", D, "kindest/node"),
    ("index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", None, "library/busybox"),
    ("quay.io/cilium/cilium:v1.19.5@" + D, "quay.io", "cilium/cilium", "v1.19.5", D, "quay.io/cilium/cilium"),
    ("registry.k8s.io/pause@" + D, "registry.k8s.io", "pause", None, D, "registry.k8s.io/pause"),
])
def test_references_split_like_docker(ref: str, host: str, path: str, tag: str, digest: str | None,
                                      mirror_path: str) -> None:
    r = ImageRef.parse(ref)
    assert (r.host, r.path, r.tag, r.digest, r.mirror_path()) == (host, path, tag, digest, mirror_path)


@pytest.mark.parametrize("bad", ["map[image:registry.k8s.io/pause:3.10]", "this is data", "quay.io/X/Y:1",
                                 "nginx@sha256:123", "quay.io/x/y:bad tag"])
def test_things_that_are_not_references_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        ImageRef.parse(bad)


def test_hosts_toml_per_registry() -> None:
    quay = tomllib.loads(plans.hosts_toml("quay.io", "10.0.0.5:5000"))
    assert quay == {"server": "https://quay.io", "host": {"http://10.0.0.5:5000/v2/quay.io": {
        "capabilities": ["pull", "resolve"], "override_path": True}}}
    hub = tomllib.loads(plans.hosts_toml("docker.io", "10.0.0.5:5000"))
    assert hub == {"server": "https://registry-1.docker.io",
                   "host": {"http://10.0.0.5:5000": {"capabilities": ["pull", "resolve"]}}}


def test_up_with_a_mirror_writes_hosts_toml_on_every_node_with_a_source() -> None:
    from labkit.components import up

    script = up.up_script(cni="kindnet", workers=2, mirror="10.0.0.5:5000")
    steps = [s for p in script.plans if "workshop mirror" in p.title for s in p.steps]
    assert len(steps) == 3 * len(plans.MIRRORED_HOSTS)
    assert all(s.source == plans.HOSTS_MD and "v2.3.1" in s.source for s in steps)
    assert {s.cmd.argv[3] for s in steps} == {"labkit-control-plane", "labkit-worker", "labkit-worker2"}
    first = [p.title for p in script.plans]
    assert first.index(next(t for t in first if "workshop mirror" in t)) == 1  # right after the cluster exists
    assert not any("workshop mirror" in p.title for p in up.up_script(cni="kindnet").plans)


@pytest.mark.parametrize("bad", ["http://10.0.0.5:5000", "10.0.0.5", "10.0.0.5:99999", "host:port", "a b:1"])
def test_a_bad_mirror_address_is_refused(bad: str) -> None:
    with pytest.raises(BadInput) as err:
        plans.mirror_plan(ClusterConfig(name="labkit"), bad)
    assert "HOST:PORT" in str(err.value)


def test_the_plans_name_node_image_manifests_charts_and_downloads() -> None:
    from labkit.versions import pins
    from labkit.workshop.kit import inventory as plan_inventory

    labels, inv = plan_inventory(["network/calico", "cilium", "network/flannel", "storage/openebs"])
    assert labels == ["network/calico", "network/cilium", "network/flannel", "storage/openebs"]
    assert any(r.startswith("kindest/node:v1.36.1@sha256:") for r in inv.images)
    assert "registry:3" in inv.images and "quay.io/calico/node:v3.32.1" in inv.images
    assert not any(r.startswith("labkit/") for r in inv.all_images())
    assert any("tigera-operator.yaml" in u for u in inv.manifests) and any("kube-flannel" in u for u in inv.manifests)
    assert any(u.endswith(".tgz") for u in inv.files)
    cilium = next(c for c in inv.charts if c.name == "cilium")
    pinned = pins()["components"]["network"]["cilium"]["version"].lstrip("v")
    assert (cilium.repo, cilium.version, cilium.release, cilium.namespace) == ("https://helm.cilium.io", pinned,
                                                                                "cilium", "kube-system")
    assert "pullPolicy" in cilium.values and inv.kubernetes == "1.36.1"
    with pytest.raises(BadInput):
        plan_inventory(["network/nope"])


def test_images_in_documents_certain_and_likely() -> None:
    inv = inventory.Inventory()
    docs = [
        {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"image": "busybox:1.37"}], "initContainers": [{"image": "quay.io/a/init:1"}]}}}}}},
        {"kind": "List", "items": [{"kind": "Pod", "spec": {"containers": [{"image": "registry.k8s.io/x:1"}]}}]},
        {"kind": "ConfigMap", "data": {"image": "quay.io/not/this:1"}},
        {"kind": "EngineImage", "spec": {"image": "longhornio/longhorn-engine:v1.12.1"}},
        {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
            {"image": "quay.io/op:1", "args": ["--engine-image=quay.io/e:2", "--csi-attacher-image", "quay.io/c:3"],
             "env": [{"name": "OPENEBS_IO_HELPER_IMAGE", "value": "openebs/linux-utils:4.3.0"}]}]}}}},
        {"kind": "Pod", "spec": {"containers": [{"image": "labkit/tools:0.2.0"}, {"image": "localhost:5001/x:1"}]}},
    ]
    inventory.images_in_documents(docs, inv, "t")
    assert set(inv.images) == {"busybox:1.37", "quay.io/a/init:1", "registry.k8s.io/x:1", "quay.io/op:1"}
    assert set(inv.likely) == {"longhornio/longhorn-engine:v1.12.1", "quay.io/e:2", "quay.io/c:3",
                               "openebs/linux-utils:4.3.0"}


def _finished(tmp_path: Path) -> Path:
    root = tmp_path / "b"
    w = bundle.Writer.start(root)
    (root / "files" / "x").mkdir(parents=True)
    (root / "files" / "x" / "a.txt").write_text("hello")
    w.add({"what": "file", "key": "u", "file": "files/x/a.txt"})
    w.finish()
    return root


def test_a_whole_bundle_verifies_and_damage_is_named(tmp_path: Path) -> None:
    root = _finished(tmp_path)
    assert bundle.verify(root)["files"] == 1
    (root / "files" / "x" / "a.txt").write_text("HELLO")
    with pytest.raises(bundle.BundleError) as err:
        bundle.verify(root)
    assert "files/x/a.txt: sha256" in str(err.value) and "sha256sum -c" in str(err.value)
    bundle.verify(root, hashes=False)  # same size: a quick check does not see it
    (root / bundle.SUMS).write_text("")
    with pytest.raises(bundle.BundleError, match="SHA256SUMS is missing or changed"):
        bundle.verify(root)
    (root / bundle.MANIFEST).unlink()
    with pytest.raises(bundle.BundleError, match="incomplete: manifest.json is missing"):
        bundle.verify(root)
    with pytest.raises(bundle.BundleError, match="does not exist"):
        bundle.verify(tmp_path / "nowhere")


def _serve_release(httpserver, name: str, body: bytes, *, sums: bytes | None = None) -> None:
    from labkit import tools

    spec = tools.spec(name)
    url, sums_url = (str(spec[k]).format(version=spec["version"], os="linux", arch="amd64")
                     for k in ("url", "checksum_url"))
    asset = url.rsplit("/", 1)[-1]
    digest = hashlib.sha256(body).hexdigest()
    path = "/" + url.split("/", 3)[3]
    httpserver.expect_request(path).respond_with_data(body)
    text = sums if sums is not None else (digest.encode() if name == "kubectl" else f"{digest}  {asset}\n".encode())
    httpserver.expect_request("/" + sums_url.split("/", 3)[3]).respond_with_data(text)


def _no_pinned_sha(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake releases cannot match helm's sha256 pinned in versions.yaml (the published checksum still decides)."""
    from labkit import tools

    real = tools.spec
    monkeypatch.setattr(tools, "spec", lambda name: {**real(name), "sha256": {}})


def test_collect_downloads_binaries_and_manifests_through_a_mirror(tmp_path: Path, httpserver,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _no_pinned_sha(monkeypatch)
    for name in fetch.TOOLS:
        _serve_release(httpserver, name, f"fake {name}".encode())
    manifest_text = yaml.safe_dump({"kind": "DaemonSet", "spec": {"template": {"spec": {"containers": [
        {"image": "quay.io/demo/agent:1.0"}]}}}})
    httpserver.expect_request("/demo/releases/download/v1/demo.yaml").respond_with_data(manifest_text)
    copied: list[str] = []
    from labkit.workshop import kit as prep

    def fake_copy(w, ref, why, source, runner=None):  # images are the engine test's job
        copied.append(ref)

    monkeypatch.setattr(prep, "copy_image", fake_copy)
    man = collect(tmp_path / "b", files={"https://github.com/demo/releases/download/v1/demo.yaml": {"t"}},
                  platforms=["linux-amd64", "windows-amd64"], mirror=httpserver.url_for(""))
    assert copied == ["quay.io/demo/agent:1.0"]
    tools_got = sorted(i["tool"] for i in man["items"] if i.get("tool"))
    assert tools_got == ["helm", "kind", "kubectl"]  # windows-amd64 is no platform they publish
    kind = next(i for i in man["items"] if i.get("tool") == "kind")
    assert kind["file"] == "files/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-amd64"
    assert bundle.verify(tmp_path / "b")["schema"] == 1


def test_a_binary_that_does_not_match_its_published_checksum_is_refused(tmp_path: Path, httpserver) -> None:
    _serve_release(httpserver, "kind", b"tampered", sums=f"{'0' * 64}  kind-linux-amd64\n".encode())
    with pytest.raises(ChecksumMismatch) as err:
        fetch.binaries(bundle.Writer.start(tmp_path / "b"), ["linux-amd64"], mirror=httpserver.url_for(""))
    assert "0" * 64 in str(err.value)
    assert not (tmp_path / "b" / "files/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-amd64").exists()


def test_prepare_where_nothing_can_be_downloaded_fails_clearly(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(DownloadFailed) as err:
        collect(tmp_path / "b", files={"https://raw.githubusercontent.com/x/y/v1/m.yaml": {"t"}}, mirror=closed)
    assert "m.yaml" in str(err.value) and "workshop prepare" in (err.value.fix or "")
    assert not (tmp_path / "b" / bundle.MANIFEST).exists()


def _chart_tgz(name: str, version: str) -> bytes:
    buf = io.BytesIO()
    files = {f"{name}/Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\n",
             f"{name}/values.yaml": "image: {repository: quay.io/demo/app, tag: '2.0'}\n",
             f"{name}/templates/ds.yaml": "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: demo}\nspec:\n"
                                          "  template:\n    spec:\n      containers:\n      - name: a\n"
                                          "        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n"}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_chart_comes_with_its_index_digest_checked_and_renders(tmp_path: Path, httpserver) -> None:
    tgz = _chart_tgz("demo", "0.3.0")
    index = {"apiVersion": "v1", "entries": {"demo": [{"name": "demo", "version": "0.3.0", "urls": ["demo-0.3.0.tgz"],
                                                        "digest": hashlib.sha256(tgz).hexdigest()}]}}
    httpserver.expect_request("/charts/index.yaml").respond_with_data(yaml.safe_dump(index))
    httpserver.expect_request("/charts/demo-0.3.0.tgz").respond_with_data(tgz)
    chart = inventory.Chart("demo", "https://charts.example.org/charts", "demo", "0.3.0", "demo", "kube-system",
                            "image: {tag: '2.1'}\n", "t")
    w = bundle.Writer.start(tmp_path / "b")
    path = fetch.chart(w, chart, mirror=httpserver.url_for(""))
    own = yaml.safe_load((path.parent / "index.yaml").read_text())
    assert own["entries"]["demo"][0]["urls"] == ["demo-0.3.0.tgz"]
    if not HELM.exists():
        pytest.skip(f"no helm at {HELM} (scripts/fetch_test_tools.sh): rendering not checked")
    text = fetch.render(str(HELM), path, chart, kube_version="1.36.1")
    inv = inventory.Inventory()
    inventory.images_in_yaml(text, inv, "t")
    assert set(inv.images) == {"quay.io/demo/app:2.1"}  # the plan's values win, as in `helm upgrade --install`


def test_serve_on_a_taken_port_names_it_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker, "container", lambda name: None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PortInUse) as err:
            mirror.start(tmp_path, port)
    assert str(port) in str(err.value) and "--port" in (err.value.fix or "")


def test_room_instructions_say_what_each_laptop_needs() -> None:
    text = room.instructions("192.168.1.10:5000", ["quay.io", "docker.io"], files_port=5001)
    assert '"registry-mirrors": ["http://192.168.1.10:5000"]' in text
    assert "labkit up --mirror 192.168.1.10:5000" in text and "LABKIT_DOWNLOAD_MIRROR=http://192.168.1.10:5001" in text
    assert 'override_path = true' in text


def test_cli_bad_input_exits_2_or_1_with_the_value(tmp_path: Path) -> None:
    from labkit.cli.main import main

    assert main(["workshop", "verify", "--bundle", str(tmp_path / "none")]) == 1
    assert main(["up", "--mirror", "http://x:1", "--plan"]) == 2
    with pytest.raises(SystemExit) as exit_:
        main(["workshop", "serve", "--port", "65535"])
    assert exit_.value.code == 2
    assert main(["workshop", "prepare", "--from", "quay.io", "--bundle", str(tmp_path / "b")]) == 2


def test_manifest_json_lists_what_prepare_froze(tmp_path: Path) -> None:
    root = _finished(tmp_path)
    man = json.loads((root / bundle.MANIFEST).read_text())
    assert set(man) >= {"schema", "created", "sums_sha256", "files", "size_bytes", "items"}
    assert bundle.upstream_hosts({"items": [{"what": "image", "ref": "quay.io/a/b:1@" + D},
                                            {"what": "image", "ref": "docker.io/library/x:1@" + D}]}) == \
        ["docker.io", "quay.io"]


def test_the_operator_chosen_images_follow_the_calico_pin() -> None:
    """The kit lists the images Calico's operator starts; they must move with the pin, not stay behind."""
    import yaml

    from labkit.versions import pins

    calico = pins()["components"]["network"]["calico"]
    kit = yaml.safe_load((Path(__file__).resolve().parents[2] / "environments" / "workshop.yaml").read_text())
    entry = kit["operator_images"]["network/calico"]
    assert entry["images"] and all(ref.endswith(":" + calico["version"]) for ref in entry["images"])
    assert f"/blob/{calico['operator_version']}/" in entry["source"]
    assert f"/blob/{calico['operator_version']}/" in entry["registry_source"]
