"""The JavaScript test support itself: a machine without Node fails, never skips."""

from __future__ import annotations

import pytest
from js_support import node_and_npm


def test_missing_node_fails_the_test_with_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="node and npm is not on PATH"):
        node_and_npm()
