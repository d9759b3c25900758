"""Engine tier: S0 of the kind storage ladder, fio on the host filesystem behind Docker's data root, for real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labkit.bench import kind_storage, runner
from labkit.target import KubeTarget

pytestmark = pytest.mark.engine


def test_s0_measures_fio_in_dockers_volumes_directory_and_cleans_up(docker_ready: None, tmp_path: Path) -> None:
    import shutil

    if shutil.which("fio") is None:
        pytest.skip("fio not installed on the host (apt-get install fio)")
    volumes = kind_storage.docker_volumes_dir()
    if not os.access(volumes, os.W_OK):
        pytest.skip(f"{volumes} not writable here (needs root on the Docker host)")
    before = set(os.listdir(volumes))
    res = runner.run("storage", target="kind", kube=KubeTarget.for_kind("labkit-s0"), cells=["hostfs-docker"],
                     tests=["randread-4k-qd32", "randread-4k-qd1"], reps=2, size="16M", store=str(tmp_path))
    rows = res.rows()
    ok = rows[rows["status"] == "ok"]
    assert set(ok["cell"]) == {"hostfs-docker"} and (ok[ok["metric"] == "iops"]["value"] > 100).all()
    assert set(ok["path"]) == {"hostfs"} and ok["fs_type"].notna().all()
    assert set(os.listdir(volumes)) == before  # the scratch directory went away
