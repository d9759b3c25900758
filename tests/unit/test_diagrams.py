"""Pictures drawn from data: well-formed SVG that names the parts the data names, and changes with the data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from labkit import network, storage as st
from labkit.components.engine.quiz import layer_facts, overlay_diagram
from labkit.diagrams import Arrow, Box, Diagram, chain

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> str:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    return " ".join(t.text or "" for t in root.iter(f"{SVG}text"))


def test_a_diagram_is_well_formed_svg_with_every_label_and_escapes_markup() -> None:
    d = Diagram("a < b & c", [[Box("a", "pod <A>", "note & more"), None, Box("b", "node")],
                              [None, Box("c", "bridge")]],
                [Arrow("a", "c", "veth & co"), Arrow("c", "b", dashed=True)], headers=["left", "right"],
                caption="x" * 300, legend=(("pod", "pods"),))
    words = texts(d.svg())
    for part in ("pod <A>", "note & more", "node", "bridge", "veth & co", "left", "right", "pods"):
        assert part in words
    assert set(d.parts()) >= {"pod <A>", "node", "bridge", "veth & co"}
    assert d._repr_svg_() == d.svg()


def test_a_diagram_refuses_an_arrow_to_a_box_it_does_not_have_and_duplicate_keys() -> None:
    with pytest.raises(ValueError, match="names a box"):
        Diagram("t", [[Box("a", "A")]], [Arrow("a", "zz")]).svg()
    with pytest.raises(ValueError, match="unique"):
        Diagram("t", [[Box("a", "A"), Box("a", "B")]]).svg()


def test_chain_links_each_box_to_the_next() -> None:
    d = chain("stack", [Box("1", "one"), Box("2", "two"), Box("3", "three")], ["down", "further"])
    assert [(a.src, a.dst, a.label) for a in d.arrows] == [("1", "2", "down"), ("2", "3", "further")]
    assert d.svg().count("<line ") == 2


@pytest.mark.parametrize("cni", network.CNIS)
def test_the_packet_path_names_what_the_cnis_own_facts_say(cni: str) -> None:
    dp = network.option(cni).datapath()
    words = texts(network.packet_path(dp).svg())
    assert dp.cni in words and "pod A" in words and "pod B" in words and "node eth0" in words
    assert ("VXLAN" in words) == dp.encapsulated or "VXLAN" in dp.between
    assert dp.sources and all(s.startswith(("https://github.com/", "environments/")) for s in dp.sources)


def test_the_packet_paths_differ_where_the_cnis_do() -> None:
    dp = {c: network.option(c).datapath() for c in ("kindnet", "calico", "cilium", "cilium-kpr", "flannel")}
    assert (dp["kindnet"].forwarding, dp["flannel"].forwarding, dp["cilium"].forwarding) == ("routes", "bridge",
                                                                                              "eBPF")
    assert not dp["kindnet"].encapsulated and dp["flannel"].encapsulated and dp["cilium"].encapsulated
    assert not dp["calico"].encapsulated  # VXLANCrossSubnet on one Docker network: routed
    assert dp["flannel"].policy == "" and "NOT enforced" in texts(network.packet_path(dp["flannel"]).svg())
    assert "kube-proxy" in dp["cilium"].services and "no kube-proxy" in dp["cilium-kpr"].services
    svgs = {c: network.packet_path(d).svg() for c, d in dp.items()}
    assert len(set(svgs.values())) == len(svgs)
    assert "cni0" in texts(svgs["flannel"]) and "cni0" not in texts(svgs["kindnet"])


def test_the_packet_path_labels_live_nodes_and_the_plans_pod_subnet() -> None:
    from labkit import clusters

    cfg = clusters.cluster_config("calico", workers=2)
    dp = network.option("calico").datapath(cfg)
    assert dp.pod_subnet == cfg.pod_subnet == "192.168.0.0/16"
    plain = texts(network.packet_path(dp).svg())
    live = texts(network.packet_path(dp, [network.NodeFact("w1", "192.168.12.0/26", "172.18.0.3"),
                                          network.NodeFact("w2", "192.168.40.0/26", "172.18.0.4")]).svg())
    assert "192.168.0.0/16" in plain and "192.168.12.0/26" in live and "w2: 172.18.0.4" in live


@pytest.mark.parametrize("option", ["local-path", "openebs", "longhorn"])
def test_the_storage_stack_names_class_provisioner_and_binding_mode(option: str) -> None:
    facts = st.option(option).stack()
    words = texts(st.stack_diagram(facts).svg())
    for part in ("pod", "PersistentVolumeClaim", "PersistentVolume", "provisioner", "disk", facts.storage_class,
                 facts.provisioner, facts.binding_mode):
        assert part in words, part


def test_the_storage_stack_follows_the_data_and_the_live_objects() -> None:
    lp, lh = st.option("local-path").stack(), st.option("longhorn").stack()
    assert (lp.binding_mode, lh.binding_mode) == ("WaitForFirstConsumer", "Immediate")
    assert lh.replicas == 2 and lp.replicas == 1  # labkit's Longhorn values: two replicas
    live = st.LiveObjects("data", "labkit-verify", "Bound", "pvc-123", "labkit-worker",
                          "/var/local-path-provisioner/pvc-123_labkit-verify_data")
    words = texts(st.stack_diagram(lp, live).svg())
    assert "labkit-verify/data" in words and "pvc-123" in words and "labkit-worker" in words
    assert st.stack_diagram(lp).svg() != st.stack_diagram(lp, live).svg()


def test_the_overlay_picture_comes_from_docker_inspect() -> None:
    graph = {"Name": "overlay2", "Data": {"LowerDir": "/nope/c-init/diff:/nope/top/diff:/nope/base/diff",
                                          "UpperDir": "/nope/c/diff", "MergedDir": "/nope/c/merged"}}
    facts = layer_facts(graph, ["sha256:" + "a" * 64, "sha256:" + "b" * 64])  # bottom first, as RootFS lists them
    assert facts["init"].endswith("-init/diff") and [x["dir"] for x in facts["layers"]] == ["/nope/top/diff",
                                                                                         "/nope/base/diff"]
    assert facts["layers"][0]["diff_id"].startswith("sha256:bbb") and facts["layers"][0]["bytes"] is None
    ov = {"layer_facts": facts, "docker_diff": [{"kind": "added", "path": "/new-file"},
                                                {"kind": "changed", "path": "/etc"},
                                                {"kind": "changed", "path": "/etc/issue"},
                                                {"kind": "deleted", "path": "/etc/debian_version"}]}
    words = texts(overlay_diagram(ov, image="img:1").svg())
    assert "image layer 2 of 2" in words and "sha256:bbbbbbbbbbbb" in words and "init layer" in words
    assert "whiteout" in words and "copied up" in words and "size not readable here" in words
    one_layer = layer_facts(graph | {"Data": {"LowerDir": "/nope/only/diff"}}, ["sha256:" + "c" * 64])
    words = texts(overlay_diagram({"layer_facts": one_layer}).svg())
    assert "image layer 1 of 1" in words and "of 2" not in words
