"""Prepared images survive a clean; a chapter builds (or explains) a missing image itself (issue 12 item 3)."""

from __future__ import annotations

import pytest

from labkit import clean, docker, images
from labkit.components.engine import inside
from labkit.errors import ImageMissing


def test_clean_keeps_images_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bool] = []

    def managed(*, include_images: bool = True) -> list[docker.Managed]:
        asked.append(include_images)
        return [docker.Managed("image", "i1", "labkit/tools:0.2.0")] if include_images else []

    monkeypatch.setattr(docker, "managed", managed)
    monkeypatch.setattr(clean, "kind_clusters", lambda: [])
    from labkit.targets import host, swarm

    monkeypatch.setattr(host, "find", lambda: [])
    monkeypatch.setattr(swarm, "leftovers", lambda: [])
    assert clean.find() == []
    assert [i.name for i in clean.find(images=True)] == ["labkit/tools:0.2.0"]
    assert asked == [False, True]


def test_a_chapter_builds_a_missing_lab_image_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    monkeypatch.setattr(docker, "image_exists", lambda ref: False)
    monkeypatch.setattr(images, "build", lambda name, **_: built.append(name) or images.ref(name))
    assert inside.ready(images.ref("tools")) == images.ref("tools")
    assert built == ["tools"]


def test_a_missing_foreign_image_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker, "image_exists", lambda ref: False)
    with pytest.raises(ImageMissing) as err:
        inside.ready("example.org/someone/else:1")
    assert "example.org/someone/else:1" in str(err.value) and "docker pull" in str(err.value)


def test_a_missing_base_image_is_image_missing_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes import ScriptedRunner

    monkeypatch.setattr(docker, "image_exists", lambda ref: False)
    runner = ScriptedRunner({("docker", "pull", "debian:bookworm-slim"): (1, "", "no registry")})
    with pytest.raises(ImageMissing) as err:
        images.ensure_base(runner=runner, bootstrap=False)
    assert "debian:bookworm-slim" in str(err.value) and "bootstrap.sh" in str(err.value)


def test_by_hand_commands_carry_the_lab_labels() -> None:
    lines = inside.namespaces_commands("labkit/tools:0.2.0")
    assert lines[0] == ("docker run -d --name demo --label io.labkit.managed=true --label io.labkit.role=by-hand "
                        "--label io.labkit.chapter=01-engine labkit/tools:0.2.0")
    assert lines[-1].startswith("docker rm -f demo")
