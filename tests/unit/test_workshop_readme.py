"""The README stays true (issue 12 item 2): every ``labkit``/``make`` line of its bash blocks parses (and the
``--plan``/``--list`` ones run, offline), every ``make`` target it names exists, and its chapter list is the
notebooks this checkout has."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _bash_lines() -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] in ("labkit", "make"):
                lines.append(" ".join(shlex.quote(w) for w in words))
    return lines


LINES = _bash_lines()


def test_the_readme_shows_commands_and_how_to_reach_labkit() -> None:
    assert len([x for x in LINES if x.startswith("labkit ")]) >= 12 and "make lab" in LINES
    assert ". .venv/bin/activate" in README and "make doctor" in README


@pytest.mark.parametrize("line", LINES)
def test_each_command_parses_as_typed(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = shlex.split(line)
    if argv[0] == "make":
        res = subprocess.run(["make", "-n", "-C", str(ROOT), *argv[1:]], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return
    from labkit.cli.main import main, parser

    parser().parse_args(argv[1:])  # a usage error exits 2: the test fails with argparse's message
    if {"--plan", "--list"} & set(argv):
        assert main(argv[1:]) == 0, capsys.readouterr().err


def test_every_make_target_the_readme_names_exists() -> None:
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)", README)) | {x.split()[1] for x in LINES if x.startswith("make ")}
    assert named and named <= targets, named - targets


def test_the_chapter_list_is_what_this_checkout_has() -> None:
    from labkit import chapters

    section = README.split("## Chapters", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^- `(\d\d-[a-z0-9-]+)`", section, re.M))
    present = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")}
    assert listed == present, f"README lists {sorted(listed - present)} (absent); add {sorted(present - listed)}"
    coming = [c for c in chapters.chapters() if not c.present]
    for c in coming:
        assert c.component.lower() in section.split("Coming:", 1)[1].split("\n", 1)[0].lower(), c.component
