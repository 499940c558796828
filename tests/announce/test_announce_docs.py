"""The announcing and async-iteration pages run as written and print what they promise."""

from __future__ import annotations

import pytest
from test_docs import DOCS, code_blocks, run_python_blocks

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def test_the_announce_page_runs() -> None:
    page = DOCS / "howto" / "announce.md"
    assert len(code_blocks(page, "python")) >= 4, "the page lost its runnable examples"
    done = run_python_blocks(page)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    lines = [line for line in done.stdout.splitlines() if "ada" in line]
    assert lines == [
        "join ada {'status': 'available'}",
        "state-change ada {'status': 'busy'}",
        "timeout ada {}",
        "join ada {'status': 'busy'}",
        "leave ada {}",
    ], done.stdout


def test_the_async_iteration_page_runs() -> None:
    page = DOCS / "howto" / "async-iteration.md"
    done = run_python_blocks(page)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    shown = [line for line in done.stdout.splitlines() if line.startswith("online:")]
    distinct = [line for i, line in enumerate(shown) if i == 0 or shown[i - 1] != line]
    assert distinct == ["online: []", "online: ['guest']", "online: []"], done.stdout
