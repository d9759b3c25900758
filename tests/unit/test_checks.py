"""Check your understanding: a right answer passes, a wrong one gets the hint, the answer can be revealed,
values are read when the check runs, and a check that cannot run here says why instead of failing."""

from __future__ import annotations

import pytest

from labkit import checks
from labkit.checks import CannotCheck, Question


def test_a_right_answer_passes_and_a_wrong_one_gets_the_hint_then_the_way_to_reveal() -> None:
    q = Question("How many bytes are 64 MiB?", checks.same_bytes(64 * 2**20), hint="1 MiB = 1024 × 1024 bytes",
                 reveal="67108864", name="q1")
    first = q.check(64_000_000)
    assert not first.passed and first.status == "wrong" and "1 MiB = 1024" in first.message
    assert "reveal" not in first.message
    second = q.check("60m")
    assert "q1.reveal()" in second.message and "Too low" in second.message
    assert q.check("64m").passed and q.check("64 MiB").passed and q.check(67108864).passed
    assert q.reveal().answer == "67108864" and "67108864" in q.reveal()._repr_markdown_()


def test_no_answer_yet_is_not_a_failure() -> None:
    v = Question("?", checks.equals("x")).check(...)
    assert v.status == "unanswered" and not v.passed and "answer =" in v.message


def test_the_expected_value_is_read_when_the_check_runs_not_before() -> None:
    live = {"limit": 100}
    q = Question("limit?", checks.number(lambda: live["limit"]))
    assert q.check(100).passed
    live["limit"] = 200  # the container was recreated with another limit
    assert not q.check(100).passed and q.check("200").passed


def test_a_check_that_cannot_run_here_says_why_and_still_reveals() -> None:
    def no_docker() -> int:
        raise CannotCheck("needs the live Docker engine (replay mode)")

    q = Question("limit?", checks.number(no_docker), reveal=no_docker, name="q2")
    v = q.check(5)
    assert v.status == "cannot" and "replay mode" in v.message and "q2.reveal()" in v.message
    assert "cannot read it here" in q.reveal().answer
    guarded = Question("?", checks.needs(False, "no kind cluster here", checks.equals("x")))
    assert guarded.check("x").status == "cannot"
    assert Question("?", checks.needs(True, "-", checks.equals("x"))).check("X ").passed


@pytest.mark.parametrize(("text", "value"), [("64m", 64 * 2**20), ("64 MiB", 64 * 2**20), ("64MB", 64_000_000),
                                              ("1,024", 1024), (4096, 4096), ("1.5g", int(1.5 * 2**30))])
def test_sizes_in_any_spelling(text: object, value: int) -> None:
    assert checks.parse_bytes(text) == value


def test_sizes_and_numbers_that_are_not_give_a_reason() -> None:
    with pytest.raises(ValueError):
        checks.parse_bytes("lots")
    ok, why = checks.same_bytes(1)("lots")
    assert not ok and "not a size" in why
    ok, why = checks.number(1)("one")
    assert not ok and "not a number" in why


def test_text_answers_ignore_case_quotes_and_space() -> None:
    assert checks.equals("flannel")(" `Flannel` ")
    ok, _ = checks.one_of(["standard", "openebs-hostpath"])("OpenEBS-hostpath")
    assert ok
    assert checks.all_of(["a", "b"])("b, a")[0]
    ok, why = checks.all_of(["a", "b"])("a")
    assert not ok and "1 missing" in why
    assert checks.yes_no(True)("yes")[0] and not checks.yes_no(True)("no")[0]
    assert checks.yes_no(False)(False)[0] and "yes or no" in checks.yes_no(True)("maybe")[1]


def test_numbers_within_a_tolerance() -> None:
    assert checks.number(0.5, tolerance=0.02)("0.51")[0]
    assert not checks.number(0.5, tolerance=0.02)("0.53")[0]
    assert checks.number(1000, tolerance=0.05, relative=True)(1040)[0]
    assert not checks.number(1000, tolerance=0.05, relative=True)(1060)[0]


def test_an_action_check_looks_at_what_the_learner_did() -> None:
    made: list[str] = []
    q = Question("make a volume", checks.action(lambda: (bool(made), f"found {made}" if made else "nothing yet")))
    assert not q.check("done").passed
    made.append("vol1")
    v = q.check(None)
    assert v.passed and "vol1" in v.text()


def test_pick_names_the_best_row_and_refuses_an_empty_table() -> None:
    rows = [{"cell": "veth", "v": 2.0}, {"cell": "loopback", "v": 9.0}, {"cell": "none", "v": float("nan")}]
    assert checks.pick(rows, lambda r: r["v"], lambda r: r["cell"]) == "loopback"
    assert checks.pick(rows, lambda r: r["v"], lambda r: r["cell"], highest=False) == "veth"
    with pytest.raises(CannotCheck):
        checks.pick([], lambda r: 0, lambda r: "")


def test_verdicts_read_as_text_in_logs_and_as_markdown_in_a_notebook() -> None:
    v = Question("?", checks.equals(1)).check(1)
    assert repr(v).startswith("✓ right") and "Right." in v._repr_markdown_()
    assert "**Question.**" in Question("What?", checks.equals(1))._repr_markdown_()
