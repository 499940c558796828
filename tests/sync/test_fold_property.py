"""Property: a snapshot folded in at any point converges to the truth, whatever races it.

A server history of joins, leaves and state changes is generated. The client misses
some events before it asks for a snapshot (an outage), the request is sent, then the
remaining events are delivered, some before the answer arrives and some after; the
server took the snapshot anywhere after the request was sent. Once everything is
delivered the roster must equal the server's final state, and the roster's diffs must
tell a consistent story (nobody joins twice without leaving in between).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sync_helpers import TT, Rig, members

import rxpresence as rxp
from rxpresence import operators as rops

UUIDS = ("ada", "bob", "cy", "dee")


@st.composite
def histories(draw: Any) -> list[tuple[str, str, dict[str, Any] | None]]:
    present: dict[str, dict[str, Any] | None] = {}
    ops: list[tuple[str, str, dict[str, Any] | None]] = []
    for _ in range(draw(st.integers(1, 25))):
        uuid = draw(st.sampled_from(UUIDS))
        if uuid not in present:
            state = draw(st.sampled_from([None, {"m": 1}]))
            ops.append(("join", uuid, state))
            present[uuid] = state
        elif draw(st.booleans()):
            ops.append((draw(st.sampled_from(["leave", "timeout"])), uuid, None))
            del present[uuid]
        else:
            state = {"m": draw(st.integers(2, 4))}
            ops.append(("state-change", uuid, state))
            present[uuid] = state
    return ops


def states_after(ops: list[tuple[str, str, dict[str, Any] | None]]) -> list[dict[str, Any]]:
    """The server's table after each prefix of ``ops`` (index i: after ops[:i])."""
    table: dict[str, Any] = {}
    out = [dict(table)]
    for action, uuid, state in ops:
        if action in ("join", "state-change"):
            table[uuid] = state
        else:
            table.pop(uuid, None)
        out.append(dict(table))
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.data(), ops=histories())
def test_fold_converges_to_the_truth(data: Any, ops: list[tuple[str, str, Any]]) -> None:
    n = len(ops)
    tables = states_after(ops)
    sent_at = data.draw(st.integers(0, n), label="request sent after this many events")
    dropped = data.draw(
        st.sets(st.integers(0, max(0, sent_at - 1)), max_size=sent_at), label="missed"
    )
    taken_at = data.draw(st.integers(sent_at, n), label="snapshot taken after")
    answered_at = data.draw(st.integers(sent_at, n), label="answer arrives after")

    rig = Rig({"room": {}})
    try:
        diffs: list[rxp.RosterDiff] = []

        def deliver(i: int) -> None:
            action, uuid, state = ops[i]
            rig.live(
                action,
                uuid,
                occupancy=len(tables[i + 1]),
                state=state,
                timetoken=TT + 10 * (i + 1),
            )

        for i in range(sent_at):
            if i not in dropped:
                deliver(i)
        roster = rig.hub.roster("room")  # the bootstrap request is sent now
        roster.pipe(rops.roster_diffs()).subscribe(diffs.append)
        for i in range(sent_at, answered_at):
            deliver(i)
        table = tables[taken_at]
        rig.here_now.respond(page=rxp.HereNowPage(len(table), dict(table)))
        for i in range(answered_at, n):
            deliver(i)

        final = rig.current()
        assert members(final) == tables[n]
        assert final.occupancy == len(tables[n])
        assert final.synced_at is not None
        present: set[str] = set()
        for diff in diffs:
            for member in diff.left:
                assert member.uuid in present
                present.discard(member.uuid)
            for member in diff.joined:
                assert member.uuid not in present
                present.add(member.uuid)
        assert present == set(tables[n])
    finally:
        rig.close()
