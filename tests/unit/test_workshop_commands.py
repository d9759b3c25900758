"""Exact commands (issue 12 item 1): the printed ``docker run`` is rendered from the SDK kwargs that run.

The SDK's own conversion (``docker.models.containers._create_container_args``) turns the same kwargs into the
HostConfig the daemon gets; each flag the renderer prints must say the same thing. The engine tier
(tests/engine/test_workshop_exact_commands.py) runs printed lines for real and compares ``docker inspect``.
"""

from __future__ import annotations

import shlex

import pytest

from labkit.docker import commands, scope

LABELS = {"io.labkit.managed": "true", "io.labkit.session": "s1", "io.labkit.role": "bench-x"}


def _host_config(**kwargs: object) -> dict:
    from docker.models.containers import _create_container_args

    args = _create_container_args({"image": "img", "version": "1.41", **kwargs})
    return dict(args["host_config"])


@pytest.mark.parametrize(("kwargs", "flags", "host_config"), [
    ({"network_mode": "host"}, ["--network", "host"], {"NetworkMode": "host"}),
    ({"network_mode": "none"}, ["--network", "none"], {"NetworkMode": "none"}),
    ({"network": "lk-net"}, ["--network", "lk-net"], {"NetworkMode": "lk-net"}),
    ({"volumes": {"/tmp/d": {"bind": "/bench"}}}, ["-v", "/tmp/d:/bench:rw"], {"Binds": ["/tmp/d:/bench:rw"]}),
    ({"volumes": {"vol1": {"bind": "/bench", "mode": "ro"}}}, ["-v", "vol1:/bench:ro"], {"Binds": ["vol1:/bench:ro"]}),
    ({"tmpfs": {"/bench": "size=134217728"}}, ["--tmpfs", "/bench:size=134217728"],
     {"Tmpfs": {"/bench": "size=134217728"}}),
    ({"cap_add": ["NET_ADMIN"]}, ["--cap-add", "NET_ADMIN"], {"CapAdd": ["NET_ADMIN"]}),
    ({"mem_limit": "64m", "nano_cpus": 500_000_000, "pids_limit": 64},
     ["--memory", "64m", "--cpus", "0.5", "--pids-limit", "64"], {"Memory": 64 * 2**20, "NanoCpus": 500_000_000,
                                                                  "PidsLimit": 64}),
    ({"device_write_bps": [{"Path": "/dev/sda", "Rate": 52428800}]}, ["--device-write-bps", "/dev/sda:52428800"],
     {"BlkioDeviceWriteBps": [{"Path": "/dev/sda", "Rate": 52428800}]}),
    ({"cpuset_cpus": "0"}, ["--cpuset-cpus", "0"], {"CpusetCpus": "0"}),
    ({"ports": {"5000/tcp": ("127.0.0.1", 5061)}}, ["-p", "127.0.0.1:5061:5000/tcp"],
     {"PortBindings": {"5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5061"}]}}),
    ({"security_opt": ["seccomp=unconfined"], "cap_drop": ["SYS_RESOURCE"]},
     ["--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined"],
     {"SecurityOpt": ["seccomp=unconfined"], "CapDrop": ["SYS_RESOURCE"]}),
])
def test_each_flag_says_what_the_sdk_sends(kwargs: dict, flags: list[str], host_config: dict) -> None:
    rendered = commands.run_argv("img", name="box", command=["sleep", "1"], **dict(kwargs), labels=LABELS)
    assert rendered.unrendered == {}
    argv = rendered.argv
    assert argv[:5] == ["docker", "run", "-d", "--name", "box"] and argv[-3:] == ["img", "sleep", "1"]
    assert all(f in argv for f in flags), (flags, argv)
    for i in range(0, len(flags), 2):  # each flag with its value, side by side
        assert any(argv[j:j + 2] == flags[i:i + 2] for j in range(len(argv))), (flags[i:i + 2], argv)
    assert {k: v for k, v in _host_config(**kwargs).items() if k in host_config} == host_config


def test_labels_come_before_the_image_and_the_line_round_trips_through_the_shell() -> None:
    rendered = commands.run_argv("labkit/tools:0.2.0", name="lk-x", network_mode="none",
                                 labels={**LABELS, "io.labkit.owner": "host:12"}, command=["sh", "-c", "echo 'a b'"])
    line = rendered.shell()
    assert shlex.split(line) == rendered.argv
    assert "--label io.labkit.owner=host:12 labkit/tools:0.2.0 sh -c" in line


def test_an_option_without_a_spelling_is_named_not_dropped() -> None:
    rendered = commands.run_argv("img", name="x", mounts=["m"])
    assert rendered.unrendered == {"mounts": ["m"]}
    assert rendered.shell().endswith("# not shown: SDK options mounts=['m']")


def test_network_and_volume_lines() -> None:
    net = commands.network_create_argv("lk-m", driver="macvlan", options={"parent": "lkp1"}, subnet="10.214.3.0/24",
                                       gateway="10.214.3.1", labels={"io.labkit.managed": "true"})
    assert net.argv == ["docker", "network", "create", "--driver", "macvlan", "--subnet", "10.214.3.0/24",
                        "--gateway", "10.214.3.1", "--opt", "parent=lkp1", "--label", "io.labkit.managed=true",
                        "lk-m"]
    vol = commands.volume_create_argv("lk-v", driver_opts={"type": "ext4", "device": "/dev/loop3"})
    assert vol.argv == ["docker", "volume", "create", "--driver", "local", "--opt", "type=ext4",
                        "--opt", "device=/dev/loop3", "lk-v"]


def test_scope_labels_carry_the_chapter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABKIT_CHAPTER", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert scope.CHAPTER not in scope.labels("s", "r")
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/labkit/workspace/03-network.ipynb")
    assert scope.labels("s", "r")[scope.CHAPTER] == "03-network"
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/Untitled.ipynb")
    assert scope.current_chapter() is None
    monkeypatch.setenv("LABKIT_CHAPTER", "01-engine")
    assert scope.labels()[scope.CHAPTER] == "01-engine"
