"""Fixtures for the command-line tests: background ``rxpresence`` processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from cli_support import CliProcess


@pytest.fixture
def cli() -> Iterator[Callable[..., CliProcess]]:
    """``cli(*args, env=None)``: start ``python -m rxpresence``; killed after the test."""
    started: list[CliProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> CliProcess:
        process = CliProcess(*args, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
