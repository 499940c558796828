"""The summary: roster checks against the server, the settle wait, the text."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

from rxpresence import Member, Roster
from rxpresence._console._summary import (
    RosterCheck,
    Summary,
    compare,
    summary_text,
    wait_for_match,
)


def roster(*members: Member) -> Roster:
    return Roster("lobby", members)


def test_matching_rosters() -> None:
    check = compare(
        roster(Member("alice", MappingProxyType({"status": "away"})), Member("bob", {})),
        {"alice": {"status": "away"}, "bob": None},
    )
    assert check.matches is True
    assert (check.missing, check.extra, check.state_differs) == ([], [], [])


def test_differences_are_named() -> None:
    check = compare(
        roster(Member("alice", {"status": "away"}), Member("ghost")),
        {"alice": {"status": "busy"}, "bob": None},
    )
    assert check.matches is False
    assert check.missing == ["bob"]
    assert check.extra == ["ghost"]
    assert check.state_differs == ["alice"]


def test_not_compared() -> None:
    check = compare(roster(Member("alice")), None)
    assert check.matches is None
    assert (check.missing, check.extra, check.state_differs) == ([], [], [])


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += seconds


def test_wait_for_match_polls_until_the_rosters_agree() -> None:
    time = FakeTime()
    answers = iter([False, False, True])

    def check() -> Sequence[RosterCheck]:
        server = {"alice": None} if next(answers) else {"bob": None}
        return [compare(roster(Member("alice")), server)]

    checks, ok = wait_for_match(check, 5, poll=0.5, clock=time.clock, wait=time.wait)
    assert ok and checks[0].matches
    assert time.now == 1.0


def test_wait_for_match_gives_up_at_the_deadline() -> None:
    time = FakeTime()

    def check() -> Sequence[RosterCheck]:
        return [compare(roster(Member("alice")), {})]

    checks, ok = wait_for_match(check, 2, poll=0.5, clock=time.clock, wait=time.wait)
    assert not ok and checks[0].extra == ["alice"]
    assert time.now == 2.0


def summary(checks: tuple[RosterCheck, ...], **changes: object) -> Summary:
    fields: dict[str, object] = {
        "title": "rxpresence demo",
        "elapsed": 30.04,
        "counts": {"join": 40, "leave": 9, "timeout": 2, "state-change": 17, "resync": 3},
        "flickers": 1,
        "grace": 5.0,
        "checks": checks,
        "seed": 7,
        "facts": ("cast: 70 steps played by 24 SDK clients",),
    }
    fields.update(changes)
    return Summary(**fields)  # type: ignore[arg-type]


def test_summary_of_a_matching_run() -> None:
    good = compare(
        roster(Member("alice", {"status": "away"}), Member("bob")),
        {"alice": {"status": "away"}, "bob": None},
    )
    text = summary_text(summary((good,)))
    lines = text.splitlines()
    assert lines[0] == "rxpresence demo: ran 30.0 s (seed 7: repeat with --seed 7)"
    assert lines[1] == ("events seen: 71 (join 40, leave 9, timeout 2, state-change 17, resync 3)")
    assert lines[2] == "flickers hidden: 1 (grace 5 s)"
    assert lines[3] == "cast: 70 steps played by 24 SDK clients"
    assert lines[4] == "final rosters, watcher vs the server's here-now:"
    assert lines[5].split() == ["lobby", "2", "present", "match", "alice", "(status=away),", "bob"]
    assert lines[-1] == "all 1 roster matches the server"
    assert summary(()).ok


def test_summary_of_a_mismatch() -> None:
    bad = compare(roster(Member("alice")), {"bob": {"mood": "ok"}})
    result = summary((bad,), interrupted=True, notes=("rosters still differed",))
    assert not result.ok
    text = summary_text(result)
    assert text.startswith("rxpresence demo: stopped by Ctrl-C after 30.0 s")
    assert "MISMATCH" in text
    assert "  lobby: missing on the watcher: bob; not on the server: alice" in text
    assert "rosters still differed" in text
    assert text.rstrip().endswith("1 of 1 roster did not match the server")


def test_summary_without_comparison() -> None:
    text = summary_text(summary((compare(roster(), None),), seed=None, grace=0))
    assert "final rosters:" in text
    assert "    lobby  0 present  nobody" in text
    assert "nobody" in text
    assert "flickers" not in text and "match" not in text and "seed" not in text


def test_long_rosters_are_cut_and_wrapped() -> None:
    members = [Member(f"fan-{i:03d}") for i in range(60)]
    check = compare(Roster("stadium", members), {m.uuid: None for m in members})
    text = summary_text(summary((check,)), width=80)
    assert "fan-023, … (60 in all)" in " ".join(text.split())
    assert all(len(line) <= 80 for line in text.splitlines())
