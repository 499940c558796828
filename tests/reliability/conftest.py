"""Options, fixtures and the figures summary of the reliability suite.

Options (pass the directory so the options are known, e.g.
``pytest tests/reliability --load-seconds=60 --soak-events=1000000``):

* ``--load-seconds``: how long the 50 SDK clients churn in the load test (default 10).
* ``--soak-events``: how many simulated events the soak pushes (default 1,000,000).
* ``--fuzz-requests``: how many hostile requests the server fuzz test sends (default 4000).

Tests record their figures with the ``figures`` fixture; they are printed at the end of
the run, so every run shows what it held (``-s`` is not needed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import polling
import pytest
from polling import WaitFor

DEFAULT_LOAD_SECONDS = 10.0
DEFAULT_SOAK_EVENTS = 1_000_000
DEFAULT_FUZZ_REQUESTS = 4_000

_FIGURES: dict[str, dict[str, Any]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rxpresence reliability")
    group.addoption(
        "--load-seconds",
        type=float,
        default=DEFAULT_LOAD_SECONDS,
        help="seconds of client churn in the load test (default: %(default)s)",
    )
    group.addoption(
        "--soak-events",
        type=int,
        default=DEFAULT_SOAK_EVENTS,
        help="simulated events pushed through the hub by the soak test (default: %(default)s)",
    )
    group.addoption(
        "--fuzz-requests",
        type=int,
        default=DEFAULT_FUZZ_REQUESTS,
        help="hostile requests sent by the server fuzz test (default: %(default)s)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sdk_limit: demonstrates a limit of the pubnub SDK itself, not of rxpresence",
    )
    config.addinivalue_line(
        "markers", "load_timeout: a pytest-timeout of 90 s plus three times --load-seconds"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seconds = float(_option(config, "--load-seconds", DEFAULT_LOAD_SECONDS))
    for item in items:
        if item.get_closest_marker("load_timeout") is not None:
            item.add_marker(pytest.mark.timeout(90 + 3 * seconds))


def _option(config: pytest.Config, name: str, default: Any) -> Any:
    try:
        return config.getoption(name)
    except ValueError:  # the option was not registered (conftest loaded late)
        return default


@pytest.fixture
def load_seconds(request: pytest.FixtureRequest) -> float:
    seconds = float(_option(request.config, "--load-seconds", DEFAULT_LOAD_SECONDS))
    if seconds <= 0:
        raise pytest.UsageError("--load-seconds must be positive")
    return seconds


@pytest.fixture
def soak_events(request: pytest.FixtureRequest) -> int:
    count = int(_option(request.config, "--soak-events", DEFAULT_SOAK_EVENTS))
    if count < 10_000:
        raise pytest.UsageError("--soak-events must be at least 10000")
    return count


@pytest.fixture
def fuzz_requests(request: pytest.FixtureRequest) -> int:
    count = int(_option(request.config, "--fuzz-requests", DEFAULT_FUZZ_REQUESTS))
    if count < 100:
        raise pytest.UsageError("--fuzz-requests must be at least 100")
    return count


# -- figures ------------------------------------------------------------------------------


class Figures:
    """Named figures of one test, printed in the terminal summary."""

    def __init__(self, name: str) -> None:
        self._entry = _FIGURES.setdefault(name, {})

    def __setitem__(self, key: str, value: Any) -> None:
        self._entry[key] = value

    def update(self, **values: Any) -> None:
        self._entry.update(values)

    def add(self, **values: float) -> None:
        """Add to running totals (for parametrized tests sharing one entry)."""
        for key, value in values.items():
            self._entry[key] = self._entry.get(key, 0) + value


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    """Figures of this test (parametrized runs of one test share an entry)."""
    return Figures(request.node.originalname)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, values in _FIGURES.items():
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())
        terminalreporter.write_line(f"{name}: {shown}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


# -- waiting and cleanup --------------------------------------------------------------------


def _wait_for(predicate: Callable[[], Any], timeout: float = 10.0, message: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    return polling.wait_for(predicate, timeout, message)


@pytest.fixture
def wait_for() -> WaitFor:
    """``wait_for(predicate, timeout=10.0, message="")``: poll with a deadline."""
    return _wait_for


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    """Fail the test if threads it started are still alive 10 s after it ends."""
    with polling.no_leaked_threads(10.0):
        yield
