"""Counts in words: one pluralising helper for every count the console prints."""

from __future__ import annotations

import doctest

import pytest

import rxpresence._words as words
from rxpresence._words import quantity


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 events"), (1, "1 event"), (2, "2 events"), (-1, "-1 events"), (11, "11 events")],
)
def test_quantity(count: int, expected: str) -> None:
    assert quantity(count, "event") == expected


def test_quantity_with_an_irregular_plural() -> None:
    assert quantity(1, "roster matches", "rosters match") == "1 roster matches"
    assert quantity(2, "roster matches", "rosters match") == "2 rosters match"


def test_examples() -> None:
    result = doctest.testmod(words)
    assert result.attempted >= 2 and result.failed == 0
