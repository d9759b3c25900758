"""Chapter 01's questions on the real engine: the right answer passes and a wrong one fails, checked against the
live container, the learner's own volume and the image; the overlay picture names the container's real layers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from labkit import checks, docker
from labkit.components.engine import inside, quiz
from labkit.versions import tools_image
from tests.fakes import leftovers

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_ready")]


def test_the_memory_limit_question_takes_the_live_limit_and_refuses_another() -> None:
    name = f"lk-quiz-test-{docker.new_session_id()}"
    try:
        assert quiz.quiz_container(tools_image(), name=name) == name
        limit = quiz.memory_limit(name)
        assert limit == quiz.docker_memory_limit(name) and limit // 2**20 in quiz.MEMORY_CHOICES_MIB
        assert quiz.quiz_container(tools_image(), name=name) == name and quiz.memory_limit(name) == limit  # kept
        q = checks.Question("limit?", checks.same_bytes(lambda: quiz.memory_limit(name)), hint="docker inspect")
        assert q.check(limit).passed and q.check(f"{limit // 2**20}m").passed
        wrong = q.check(limit + 2**20)
        assert not wrong.passed and "docker inspect" in wrong.message
        labels = docker.attrs(docker.container(name))["Config"]["Labels"]
        assert labels[docker.CHAPTER] == "01-engine" and labels[docker.ROLE] == "quiz"
    finally:
        box = docker.container(name)
        if box is not None:
            docker.remove_container(box)


def test_the_volume_question_finds_the_learners_labelled_volume_and_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    chapter = f"96-q-{docker.new_session_id()[:6]}"
    monkeypatch.setenv(docker.CHAPTER_ENV, chapter)
    q = checks.Question("volume?", checks.action(lambda: (any(f for _, f in quiz.chapter_volumes(chapter)), "")))
    assert not q.check("done").passed  # nothing made yet
    with docker.Scope() as scope:
        vol = scope.volume(f"lk-{scope.session}-mine")
        assert quiz.chapter_volumes(chapter) == [(vol.name, [])]
        assert not q.check("done").passed  # there, but empty
        box = scope.container(tools_image(), name=f"lk-{scope.session}-w", command=["sleep", "60"],
                              network_mode="none", volumes={vol.name: {"bind": "/data", "mode": "rw"}})
        docker.exec_in(box, ["sh", "-c", "echo hello > /data/hello.txt"], timeout=30)
        assert quiz.chapter_volumes(chapter) == [(vol.name, ["/hello.txt"])]
        assert q.check("done").passed
    assert leftovers(scope.session) == []


def test_the_layer_question_and_the_overlay_picture_use_the_live_image() -> None:
    count = quiz.image_layer_count(tools_image())
    q = checks.Question("layers?", checks.number(lambda: quiz.image_layer_count(tools_image())))
    assert q.check(count).passed and not q.check(count + 1).passed
    ov = inside.overlay_write(tools_image())
    facts = ov["layer_facts"]
    assert len(facts["layers"]) == count and facts["upper"].endswith("/diff")
    svg = quiz.overlay_diagram(ov, image=tools_image()).svg()
    words = " ".join(t.text or "" for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text"))
    assert f"image layer {count} of {count}" in words and "added /new-file" in words
    top = facts["layers"][0]["diff_id"].split(":", 1)[1][:12]
    assert top in words  # the topmost layer's digest, as docker image inspect lists it
