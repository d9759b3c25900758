"""``labkit reset CHAPTER`` and the learner's working copies (issue 12 item 4), on a throwaway checkout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from labkit import clean, docker, lab
from labkit.errors import BadInput

NB = {"cells": [{"cell_type": "code", "source": "print(1)", "metadata": {}, "outputs": [], "execution_count": None}],
      "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _checkout(tmp_path: Path, *, git: bool) -> Path:
    root = tmp_path / "labkit"
    (root / "notebooks").mkdir(parents=True)
    for name in ("00-start-here", "01-engine", "03-network"):
        (root / "notebooks" / f"{name}.ipynb").write_text(json.dumps(NB, indent=1) + "\n")
    if git:
        for argv in (["init", "-q"], ["add", "notebooks"],
                     ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "chapters"]):
            subprocess.run(["git", "-C", str(root), *argv], check=True, capture_output=True)
    return root


def _edited(path: Path) -> None:
    nb = json.loads(path.read_text())
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "1\n"}]
    path.write_text(json.dumps(nb))


@pytest.fixture()
def no_docker_objects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    removed: list[str] = []
    objs = [docker.Managed("container", "c1", "lk-a-ns", chapter="01-engine"),
            docker.Managed("volume", "v1", "lk-a-vol", chapter="01-engine"),
            docker.Managed("container", "c2", "lk-b-x", chapter="03-network"),
            docker.Managed("container", "c3", "lk-c-y")]
    monkeypatch.setattr(docker, "managed", lambda include_images=True: objs)
    monkeypatch.setattr(docker, "remove", lambda item: removed.append(item.name))
    monkeypatch.setattr(clean, "kind_clusters", lambda: ["labkit-calico"])
    return removed


def test_reset_saves_the_copy_restores_both_and_removes_only_the_chapters_objects(
        tmp_path: Path, no_docker_objects: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    root = _checkout(tmp_path, git=True)
    workspace, copied = lab.prepare_workspace(root=root)
    assert copied == ["00-start-here.ipynb", "01-engine.ipynb", "03-network.ipynb"]
    _edited(workspace / "01-engine.ipynb")
    _edited(root / "notebooks" / "01-engine.ipynb")  # autosave in --tracked mode
    done = clean.reset("01-engine", root=root)
    assert (workspace / "01-engine.ipynb").read_text() == json.dumps(NB, indent=1) + "\n"
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True)
    assert "notebooks/01-engine.ipynb" not in status.stdout
    saved = sorted(p.name for p in (root / "notebooks" / ".learner").iterdir())
    assert len(saved) == 2 and all(p.startswith("01-engine.") for p in saved)
    assert '"text": "1\\n"' in (root / "notebooks" / ".learner" / saved[0]).read_text()
    assert no_docker_objects == ["lk-a-ns", "lk-a-vol"]  # not 03-network's, not the unlabelled one, no images
    assert len(done) == 4 and "kept kind cluster(s) labkit-calico" in capsys.readouterr().out
    assert clean.reset("01-engine", root=root, objects=False) == []  # nothing left to do: says so


def test_reset_outside_git_restores_from_the_pristine_copy(tmp_path: Path, no_docker_objects: list[str]) -> None:
    root = _checkout(tmp_path, git=False)
    workspace, _ = lab.prepare_workspace(root=root)
    assert (root / "notebooks" / ".pristine" / "03-network.ipynb").is_file()
    _edited(workspace / "03-network.ipynb")
    dry = clean.reset("03-network.ipynb", root=root, dry_run=True)
    assert "workspace/03-network.ipynb" in dry[0] and no_docker_objects == []
    clean.reset("03-network", root=root)
    assert json.loads((workspace / "03-network.ipynb").read_text()) == NB
    assert no_docker_objects == ["lk-b-x"]


def test_the_workspace_never_overwrites_a_learners_copy(tmp_path: Path) -> None:
    root = _checkout(tmp_path, git=True)
    workspace, _ = lab.prepare_workspace(root=root)
    _edited(workspace / "00-start-here.ipynb")
    _, copied = lab.prepare_workspace(root=root)
    assert copied == [] and "outputs" in (workspace / "00-start-here.ipynb").read_text()


def test_an_unknown_chapter_is_refused_with_the_choices(tmp_path: Path) -> None:
    root = _checkout(tmp_path, git=True)
    with pytest.raises(BadInput) as err:
        clean.reset("05-monitoring", root=root)
    assert "05-monitoring" in str(err.value) and "01-engine" in str(err.value) and "labkit reset" in str(err.value)


def test_cli_reset(tmp_path: Path) -> None:
    from labkit.cli.main import main

    assert main(["reset", "no-such-chapter"]) == 2
    assert main(["reset"]) == 2
    assert main(["reset", "--list"]) == 0


def test_lab_opens_the_workspace_copy(tmp_path: Path) -> None:
    argv = lab.jupyter_argv(port=8899, browser=False, root_dir=tmp_path, start=lab.FIRST)
    assert f"--ServerApp.root_dir={tmp_path}" in argv and "00-start-here.ipynb" in argv


def test_reset_without_docker_still_restores_the_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.errors import DockerUnavailable

    def gone(**_: object) -> list[docker.Managed]:
        raise DockerUnavailable("the Docker daemon is not reachable", fix="start it")

    monkeypatch.setattr(docker, "managed", gone)
    root = _checkout(tmp_path, git=True)
    workspace, _ = lab.prepare_workspace(root=root)
    _edited(workspace / "01-engine.ipynb")
    assert len(clean.reset("01-engine", root=root)) == 1
    assert json.loads((workspace / "01-engine.ipynb").read_text()) == NB
