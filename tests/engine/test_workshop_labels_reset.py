"""Reset and labels on the real engine: a chapter's objects carry ``io.labkit.chapter`` and ``reset`` removes exactly
those (a chapter name of this test's own, so nobody else's objects are in reach); what 01-engine tells a learner
to type is labelled too; a missing image is an ImageMissing with the fix."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from labkit import clean, docker
from labkit.components.engine import inside
from labkit.errors import ImageMissing
from labkit.versions import tools_image
from tests.fakes import leftovers

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_ready")]


def _labels(name: str) -> dict[str, str]:
    out = subprocess.run(["docker", "inspect", "-f", "{{json .Config.Labels}}", name], capture_output=True, text=True,
                         timeout=60, check=True)
    return dict(json.loads(out.stdout))


def test_reset_removes_the_chapters_objects_and_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chapter = f"97-ws-{docker.new_session_id()[:6]}"
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / f"{chapter}.ipynb").write_text("{}")
    with docker.Scope(keep=True) as other:
        bystander = other.container(tools_image(), name=f"lk-{other.session}-other", network_mode="none")
    monkeypatch.setenv(docker.CHAPTER_ENV, chapter)
    with docker.Scope(keep=True) as scope:  # kept, as after a kernel that died mid-chapter
        scope.volume(f"lk-{scope.session}-vol")
        scope.container(tools_image(), name=f"lk-{scope.session}-box", network_mode="none")
        assert _labels(f"lk-{scope.session}-box")[docker.CHAPTER] == chapter
    try:
        done = clean.reset(chapter, root=tmp_path)
        assert [d.split(" (")[0] for d in done] == [f"remove container lk-{scope.session}-box",
                                                    f"remove volume lk-{scope.session}-vol"]
        assert leftovers(scope.session) == []
        assert docker.is_running(bystander)
    finally:
        docker.remove_container(bystander)
    assert leftovers(other.session) == []


def test_what_01_engine_tells_a_learner_to_type_is_labelled(tmp_path: Path) -> None:
    argv = shlex.split(inside.namespaces_commands(tools_image())[0])
    name = f"lk-{docker.new_session_id()}-demo"
    argv[argv.index("demo")] = name
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    try:
        labels = _labels(name)
        assert labels[docker.MANAGED] == "true" and labels[docker.CHAPTER] == "01-engine"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


def test_a_missing_image_is_explained_not_a_raw_not_found() -> None:
    with docker.Scope() as scope, pytest.raises(ImageMissing) as err:
        scope.container("labkit/no-such-image:0.0.0", name=f"lk-{scope.session}-x")
    assert "labkit images build" in (err.value.fix or "")
    assert leftovers(scope.session) == []
