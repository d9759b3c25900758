"""``labkit doctor``: rendering, exit codes, and the host checks that need no Docker."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from labkit import doctor
from labkit.doctor import FAIL, OK, WARN, Check

# --- render and exit_code -----------------------------------------------------------------------


def test_a_failed_check_makes_the_exit_code_1() -> None:
    rows = [Check("python", OK, "Python 3.11.7"), Check("kind", WARN, "not found", "install kind"),
            Check("docker daemon", FAIL, "not reachable", "start Docker")]
    assert doctor.exit_code(rows) == 1


def test_warnings_alone_exit_0() -> None:
    rows = [Check("python", OK, "Python 3.11.7"), Check("kind", WARN, "not found", "install kind"),
            Check("inotify", WARN, "low", "sudo sysctl ...")]
    assert doctor.exit_code(rows) == 0
    assert doctor.exit_code([Check("python", OK, "Python 3.11.7")]) == 0


def test_render_shows_a_symbol_per_status_and_fixes_only_for_problems() -> None:
    rows = [Check("python", OK, "Python 3.11.7", "never shown"),
            Check("kind", WARN, "not found", "install kind"),
            Check("docker daemon", FAIL, "not reachable", "start Docker")]
    lines = doctor.render(rows).splitlines()
    assert lines[0] == "✓ python         Python 3.11.7"
    assert lines[1] == "! kind           not found"
    assert lines[2].split() == ["fix:", "install", "kind"] and lines[2].startswith(" " * 16)
    assert lines[3] == "✗ docker daemon  not reachable"
    assert lines[4].strip() == "fix: start Docker"
    assert "never shown" not in doctor.render(rows)
    assert lines[-1] == "1 blocker(s), 1 warning(s)"


def test_render_omits_the_fix_line_when_there_is_no_fix() -> None:
    text = doctor.render([Check("host fio", WARN, "not found")])
    assert "fix:" not in text and text.endswith("0 blocker(s), 1 warning(s)")


# --- host checks ----------------------------------------------------------------------------------


def test_read_int_reads_the_first_number_or_gives_none(tmp_path: Path) -> None:
    (tmp_path / "watches").write_text("524288\n")
    (tmp_path / "pair").write_text("128\t0\n")
    (tmp_path / "junk").write_text("unlimited\n")
    (tmp_path / "empty").write_text("")
    assert doctor._read_int(str(tmp_path / "watches")) == 524288
    assert doctor._read_int(str(tmp_path / "pair")) == 128
    assert doctor._read_int(str(tmp_path / "junk")) is None
    assert doctor._read_int(str(tmp_path / "empty")) is None
    assert doctor._read_int(str(tmp_path / "missing")) is None


def _inotify_limits(monkeypatch: pytest.MonkeyPatch, watches: int | None, instances: int | None) -> None:
    values = {"/proc/sys/fs/inotify/max_user_watches": watches, "/proc/sys/fs/inotify/max_user_instances": instances}
    monkeypatch.setattr(doctor, "_read_int", lambda path: values[path])


@pytest.mark.parametrize(("watches", "instances"), [(8192, 512), (524288, 128), (8192, 128)])
def test_low_inotify_limits_warn_with_the_sysctl_fix(monkeypatch: pytest.MonkeyPatch, watches: int,
                                                     instances: int) -> None:
    _inotify_limits(monkeypatch, watches, instances)
    check = doctor._inotify()
    assert check.status == WARN and f"max_user_watches={watches}" in check.detail
    assert check.fix == ("sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512")


def test_enough_inotify_is_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    _inotify_limits(monkeypatch, 1048576, 8192)
    check = doctor._inotify()
    assert check.status == OK and check.detail == "max_user_watches=1048576, max_user_instances=8192"


def test_inotify_is_not_applicable_without_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    _inotify_limits(monkeypatch, None, None)
    assert doctor._inotify().status == OK and "not applicable" in doctor._inotify().detail


class _FakeMeminfo:
    """Stands in for pathlib.Path inside doctor: only /proc/meminfo is read."""

    text: str | None = None

    def __init__(self, path: str) -> None:
        assert path == "/proc/meminfo", path

    def read_text(self) -> str:
        if self.text is None:
            raise FileNotFoundError("/proc/meminfo")
        return self.text


def _meminfo(monkeypatch: pytest.MonkeyPatch, available_kib: int | None) -> None:
    text = None if available_kib is None else (
        f"MemTotal:       16303372 kB\nMemFree:          812344 kB\nMemAvailable:   {available_kib} kB\n")
    monkeypatch.setattr(_FakeMeminfo, "text", text)
    monkeypatch.setattr(doctor, "Path", _FakeMeminfo)


def test_low_memory_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    _meminfo(monkeypatch, 2 * 1024 * 1024)
    check = doctor._memory()
    assert check.status == WARN and check.detail == "2.0 GiB available" and "4+ GiB" in check.fix


def test_enough_memory_is_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    _meminfo(monkeypatch, 12 * 1024 * 1024)
    assert doctor._memory() == Check("memory", OK, "12.0 GiB available")


def test_memory_not_readable_is_not_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    _meminfo(monkeypatch, None)
    assert doctor._memory().status == OK and "not read" in doctor._memory().detail


@pytest.mark.parametrize(("version", "status"), [("1", WARN), ("2", OK)])
def test_cgroup_v1_is_a_warning_for_kind(version: str, status: str) -> None:
    check = doctor._cgroup({"CgroupVersion": version})
    assert check.status == status
    assert ("systemd.unified_cgroup_hierarchy=1" in check.fix) == (status == WARN)


def test_missing_host_tool_warns_with_an_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    check = doctor._host_tool("fio", "the S0 baseline")
    assert check == Check("host fio", WARN, "not found; needed for the S0 baseline", "apt-get install fio")


def test_missing_kind_is_a_warning_not_a_blocker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    check = doctor._tool("kind")
    assert check.status == WARN and check.detail.startswith("not found") and "install kind" in check.fix


# --- ports ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bind_host", ["127.0.0.1", "0.0.0.0"])
def test_port_free_is_false_for_a_port_someone_listens_on(bind_host: str) -> None:
    with socket.socket() as s:
        s.bind((bind_host, 0))
        s.listen()
        port = s.getsockname()[1]
        assert doctor.port_free(port) is False
        check = doctor._port(port)
        assert check.status == WARN and str(port) in check.fix


def test_port_free_is_true_once_the_listener_is_gone() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert doctor.port_free(port) is True
    assert doctor._port(port) == Check(f"port {port}", OK, "free")


# --- kubeconfig: what was actually checked ----------------------------------------------------------


KUBECONFIG_YAML = """apiVersion: v1
kind: Config
current-context: kind-demo
clusters:
- name: kind-demo
  cluster: {server: "https://127.0.0.1:6443"}
contexts:
- name: kind-demo
  context: {cluster: kind-demo, user: kind-demo}
users:
- name: kind-demo
  user: {}
"""


def _rows_with_kubectl() -> list[Check]:
    return [Check("docker daemon", OK, "server 20.10.24"), Check("kubectl", OK, "1.36.1 at /usr/bin/kubectl")]


def test_no_kubeconfig_is_said_so_and_the_cluster_target_is_not_available(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    from labkit import chapters

    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    check = doctor._kubeconfig()
    assert check.status == WARN and check.detail.startswith(f"none ({tmp_path}/.kube/config does not exist")
    targets = chapters.targets([*_rows_with_kubectl(), check]).set_index("target")
    assert not targets.loc["cluster", "available"]  # was "cluster True" with kubectl alone
    assert "kubeconfig: none" in targets.loc["cluster", "why"]


def test_a_kubeconfig_with_a_current_context_is_ok_and_says_it_was_not_contacted(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from labkit import chapters

    (tmp_path / "config").write_text(KUBECONFIG_YAML)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "config"))
    check = doctor._kubeconfig()
    assert check == Check("kubeconfig", OK, f"{tmp_path}/config: current context kind-demo (file read; the "
                          "cluster was not contacted)")
    targets = chapters.targets([*_rows_with_kubectl(), check]).set_index("target")
    assert targets.loc["cluster", "available"] and "current context kind-demo" in targets.loc["cluster", "why"]
    without_kubectl = [Check("kubectl", WARN, "not found; the kind chapters need it"), check]
    assert not chapters.targets(without_kubectl).set_index("target").loc["cluster", "available"]


def test_a_broken_kubeconfig_warns_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "config").write_text(KUBECONFIG_YAML.replace("current-context: kind-demo", "current-context: gone"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "config"))
    check = doctor._kubeconfig()
    assert check.status == WARN and "'gone'" in check.detail and check.fix


# --- download sites --------------------------------------------------------------------------------


def test_the_sites_include_every_registry_and_download_host_of_the_kind_chapters() -> None:
    hosts = {url.split("/")[2] for url in doctor.sites()}
    assert {"registry-1.docker.io", "registry.k8s.io", "quay.io", "ghcr.io", "github.com", "dl.k8s.io",
            "get.helm.sh"} <= hosts
    assert doctor.sites()["https://dl.k8s.io/"] == "kubectl releases"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_sites_warn_naming_them_and_a_mirror(monkeypatch: pytest.MonkeyPatch, httpserver) -> None:
    httpserver.expect_request("/v2/").respond_with_data("unauthorized", status=401)  # any answer counts
    up, down = httpserver.url_for("/v2/"), f"http://127.0.0.1:{_closed_port()}/"
    monkeypatch.setattr(doctor, "sites", lambda: {up: "images", down: "kind releases"})
    monkeypatch.delenv("LABKIT_DOWNLOAD_MIRROR", raising=False)
    check = doctor._sites(timeout=2.0)
    assert check.status == WARN
    assert check.detail.startswith("1 of 2 unreachable from here (connection refused: 127.0.0.1:")
    assert "[kind releases]" in check.detail and "[images]" not in check.detail
    assert "the kind chapters" in check.detail and "registry mirror" in check.fix


def test_reachable_sites_are_ok(monkeypatch: pytest.MonkeyPatch, httpserver) -> None:
    httpserver.expect_request("/").respond_with_data("", status=302)  # redirects are not followed
    monkeypatch.setattr(doctor, "sites", lambda: {httpserver.url_for("/"): "images"})
    monkeypatch.delenv("LABKIT_DOWNLOAD_MIRROR", raising=False)
    check = doctor._sites(timeout=2.0)
    assert check.status == OK and check.detail.startswith("all 1 answer")


def test_a_site_that_never_answers_costs_the_timeout_not_more() -> None:
    from labkit import downloads

    with socket.socket() as silent:  # accepts (backlog) but never responds
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        started = time.monotonic()
        assert downloads.probe(url, timeout=0.5) == "no answer within 0.5 s"
        assert time.monotonic() - started < 2


def test_probes_run_at_once_and_the_whole_call_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit import downloads

    def slow(url: str, *, timeout: float) -> str | None:  # like a name lookup that ignores the timeout
        time.sleep(0.3 if "fast" in url else 5)
        return None

    monkeypatch.setattr(downloads, "probe", slow)
    started = time.monotonic()
    answers = downloads.probe_all([f"https://fast{i}.example/" for i in range(6)] + ["https://stuck.example/"],
                                  timeout=0.6)
    elapsed = time.monotonic() - started
    assert elapsed < 1.6  # six 0.3 s probes in sequence alone would take 1.8 s
    assert answers["https://stuck.example/"] == "no answer within 0.6 s"
    assert all(answers[f"https://fast{i}.example/"] is None for i in range(6))


def test_checks_can_skip_the_network_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(doctor, "_docker", lambda: ([Check("docker daemon", FAIL, "not reachable")], None))
    monkeypatch.setattr(doctor, "_sites", lambda: calls.append("probed") or Check("download sites", OK, "all"))
    names = [r.name for r in doctor.checks(ports=(), probe_network=True)]
    assert "download sites" in names and calls == ["probed"]
    names = [r.name for r in doctor.checks(ports=(), probe_network=False)]
    assert "download sites" not in names and calls == ["probed"]
