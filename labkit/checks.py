"""Check your understanding: questions the learner answers from the live system, checked like a Check button.

A :class:`Question` holds a prompt, a check of the learner's answer (or of something the learner did), a
hint for a wrong answer and the answer to reveal. The check is any callable that takes the learner's
answer and returns ``True``/``False`` or ``(ok, detail)``; it raises :class:`CannotCheck` when this
machine cannot check it (replay mode, no Docker, no cluster) and says why. The expected value is read
when the check runs, never before: "the memory limit of container X" is looked up at that moment.

>>> q = Question("How many bytes are 64 MiB?", same_bytes(64 * 2**20), hint="1 MiB = 1024 × 1024 bytes",
...              reveal="67108864 (64 × 1,048,576)")
>>> q.check("64m").passed, q.check(64_000_000).passed
(True, False)

This module takes values and callables only: it imports nothing of Docker or Kubernetes, so chapters
pass it the public API's live readers (``engine.memory_limit``, ``clusters``…).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

#: What ``answer = ...`` leaves in a check cell until the learner writes an answer.
NOT_ANSWERED: Any = Ellipsis

Check = Callable[[Any], "bool | tuple[bool, str]"]
Value = Any  # a value, or a zero-argument callable that reads it when the check runs


class CannotCheck(Exception):
    """This machine cannot check the answer (say why: "needs the live Docker engine")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: ``right``, ``wrong``, ``unanswered`` or ``cannot`` (with why)."""

    status: str
    message: str
    prompt: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "right"

    def text(self) -> str:
        mark = {"right": "✓ right", "wrong": "✗ not yet", "unanswered": "… no answer yet",
                "cannot": "⊘ cannot check here"}[self.status]
        return f"{mark}: {self.message}" if self.message else mark

    def __repr__(self) -> str:
        return self.text()

    def _repr_markdown_(self) -> str:
        mark = {"right": "✅ **Right.**", "wrong": "❌ **Not yet.**", "unanswered": "✍️ **No answer yet.**",
                "cannot": "⊘ **Cannot check here.**"}[self.status]
        return f"{mark} {self.message}"


@dataclass(frozen=True)
class Revealed:
    prompt: str
    answer: str

    def __repr__(self) -> str:
        return f"answer: {self.answer}"

    def _repr_markdown_(self) -> str:
        return f"**Answer.** {self.answer}"


class Question:
    """One question: ``q.check(answer)`` verifies the learner's answer (or action), ``q.reveal()`` gives it away.

    ``reveal`` is the answer as text, or a callable that reads it (a live value) when asked. A wrong answer
    gets the hint; after two wrong answers the verdict also says how to reveal it.
    """

    def __init__(self, prompt: str, answer_check: Check, hint: str = "", reveal: str | Callable[[], str] = "",
                 *, name: str = "q") -> None:
        self.prompt = prompt
        self.answer_check = answer_check
        self.hint = hint
        self._reveal = reveal
        self.name = name
        self.wrong = 0

    def check(self, answer: Any = NOT_ANSWERED) -> Verdict:
        """Check ``answer`` (``...`` means the learner has not answered yet; that is no failure)."""
        if answer is NOT_ANSWERED:
            return Verdict("unanswered", "replace the `...` after `answer =` with your answer and run the cell "
                           "again", self.prompt)
        try:
            out = self.answer_check(answer)
        except CannotCheck as exc:
            return Verdict("cannot", exc.reason + f" (`{self.name}.reveal()` still shows the answer)", self.prompt)
        ok, detail = out if isinstance(out, tuple) else (bool(out), "")
        if ok:
            self.wrong = 0
            return Verdict("right", detail, self.prompt)
        self.wrong += 1
        parts = [detail] if detail else []
        if self.hint:
            parts.append(f"Hint: {self.hint}")
        if self.wrong >= 2 and self._reveal:
            parts.append(f"Stuck? `{self.name}.reveal()` shows the answer.")
        return Verdict("wrong", " ".join(parts), self.prompt)

    def reveal(self) -> Revealed:
        try:
            text = self._reveal() if callable(self._reveal) else self._reveal
        except CannotCheck as exc:
            text = f"(cannot read it here: {exc.reason})"
        return Revealed(self.prompt, str(text) or "(no answer recorded)")

    def __repr__(self) -> str:
        return f"Question: {self.prompt}"

    def _repr_markdown_(self) -> str:
        return f"**Question.** {self.prompt}"


# --- checks: factories that build an ``answer_check`` --------------------------------------------------------
def _value(expected: Value) -> Any:
    return expected() if callable(expected) else expected


def normalise(text: Any) -> str:
    """Case, surrounding space, quotes and inner runs of space do not matter: ``" Flannel "`` → ``"flannel"``."""
    return re.sub(r"\s+", " ", str(text).strip().strip("'\"`").strip().lower())


def equals(expected: Value, *, normalize: Callable[[Any], str] = normalise) -> Check:
    """The answer names the expected value (text compared after ``normalize``)."""
    def check(answer: Any) -> bool:
        return normalize(answer) == normalize(_value(expected))
    return check


def one_of(accepted: Value, *, normalize: Callable[[Any], str] = normalise) -> Check:
    """The answer is one of several right answers (an iterable, or a callable returning one)."""
    def check(answer: Any) -> tuple[bool, str]:
        right = {normalize(a) for a in _value(accepted)}
        return normalize(answer) in right, ""
    return check


def all_of(accepted: Value, *, normalize: Callable[[Any], str] = normalise) -> Check:
    """The answer names every expected item and nothing else (comma- or space-separated, any order)."""
    def check(answer: Any) -> tuple[bool, str]:
        want = {normalize(a) for a in _value(accepted)}
        items = answer if isinstance(answer, (list, tuple, set)) else re.split(r"[,\s]+", str(answer))
        got = {normalize(a) for a in items if normalize(a)}
        if got == want:
            return True, ""
        if got < want:
            return False, f"{len(want - got)} missing."
        return False, f"{len(got - want)} of yours {'is' if len(got - want) == 1 else 'are'} not right."
    return check


def parse_number(answer: Any) -> float:
    """``1,234``, ``1_234``, ``"0.5"`` or a number → float; anything else is ValueError."""
    if isinstance(answer, bool):
        raise ValueError("a yes/no is not a number")
    if isinstance(answer, (int, float)):
        return float(answer)
    return float(str(answer).strip().replace(",", "").replace("_", "").replace(" ", ""))


def number(expected: Value, *, tolerance: float = 0.0, relative: bool = False) -> Check:
    """The answer is a number within ``tolerance`` of the expected one (a fraction of it when ``relative``)."""
    def check(answer: Any) -> tuple[bool, str]:
        try:
            got = parse_number(answer)
        except ValueError:
            return False, f"{answer!r} is not a number."
        want = float(_value(expected))
        allowed = abs(want) * tolerance if relative else tolerance
        ok = math.isclose(got, want, abs_tol=allowed + 1e-12)
        return ok, "" if ok else ("Too high." if got > want else "Too low.")
    return check


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1000**3, "gib": 1024**3}


def parse_bytes(answer: Any) -> int:
    """``67108864``, ``"64m"`` (Docker's meaning: MiB), ``"64 MiB"``, ``"64MB"`` (10^6) → bytes."""
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        return int(answer)
    m = re.fullmatch(r"\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(answer))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"{answer!r} is not a size (try 67108864 or 64m)")
    return int(float(m.group(1).replace(",", "").replace("_", "")) * _UNITS[m.group(2).lower()])


def same_bytes(expected: Value) -> Check:
    """The answer is the expected number of bytes, in any spelling :func:`parse_bytes` reads."""
    def check(answer: Any) -> tuple[bool, str]:
        try:
            got = parse_bytes(answer)
        except ValueError as exc:
            return False, str(exc) + "."
        want = int(_value(expected))
        return got == want, "" if got == want else ("Too high." if got > want else "Too low.")
    return check


def yes_no(expected: Value) -> Check:
    """The answer is yes/no (``True``/``False``, ``"yes"``, ``"no"``)."""
    def as_bool(answer: Any) -> bool:
        if isinstance(answer, bool):
            return answer
        text = normalise(answer)
        if text in ("yes", "y", "true"):
            return True
        if text in ("no", "n", "false"):
            return False
        raise ValueError(text)

    def check(answer: Any) -> tuple[bool, str]:
        try:
            return as_bool(answer) == bool(_value(expected)), ""
        except ValueError:
            return False, "Answer yes or no."
    return check


def action(probe: Callable[[], tuple[bool, str]]) -> Check:
    """Check something the learner *did* (the answer is ignored): ``probe()`` looks and says what it found."""
    def check(_answer: Any) -> tuple[bool, str]:
        return probe()
    return check


def needs(condition: bool, reason: str, check: Check) -> Check:
    """``check`` where ``condition`` holds (live mode, Docker there); else :class:`CannotCheck` with ``reason``."""
    def guarded(answer: Any) -> bool | tuple[bool, str]:
        if not condition:
            raise CannotCheck(reason)
        return check(answer)
    return guarded


def pick(rows: Iterable[Any], key: Callable[[Any], float], name: Callable[[Any], str], *, highest: bool = True) -> str:
    """The name of the row with the highest (or lowest) ``key``: "which cell was fastest?" from a table."""
    ranked = sorted(((key(r), name(r)) for r in rows if _finite(key(r))), reverse=highest)
    if not ranked:
        raise CannotCheck("the table has no measured values to compare")
    return ranked[0][1]


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False
