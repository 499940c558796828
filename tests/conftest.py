"""Fixtures shared across the test folders."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture
def eager_switching() -> Iterator[None]:
    """Switch threads far more often than the default 5 ms, so races actually happen."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
