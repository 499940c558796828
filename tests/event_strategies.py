"""Hypothesis strategies for presence events, shared by the property tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from rxpresence import PresenceEvent

ACTIONS = ["join", "leave", "timeout", "state-change", "interval"]


@st.composite
def presence_events(
    draw: st.DrawFn,
    channels: Sequence[str],
    uuids: Sequence[str],
    states: Sequence[dict[str, Any] | None],
    *,
    max_timetoken: int,
    max_occupancy: int,
    interval_subscriptions: Sequence[str | None] = (None,),
) -> PresenceEvent:
    """Any event of ``channels`` with a small random timetoken (so out of order);
    joins and state changes carry one of ``states``, interval events up to three uuids
    in each array."""
    action = draw(st.sampled_from(ACTIONS))
    channel = draw(st.sampled_from(channels))
    tt = draw(st.integers(1, max_timetoken))
    occupancy = draw(st.integers(0, max_occupancy))
    if action == "interval":
        uuid_lists = st.lists(st.sampled_from(uuids), max_size=3, unique=True)
        return PresenceEvent(
            action,
            channel,
            None,
            occupancy,
            timetoken=tt,
            join=draw(uuid_lists),
            leave=draw(uuid_lists),
            timeout=draw(uuid_lists),
            subscription=draw(st.sampled_from(interval_subscriptions)),
        )
    state = draw(st.sampled_from(states)) if action in ("join", "state-change") else None
    return PresenceEvent(action, channel, draw(st.sampled_from(uuids)), occupancy, 0, tt, state)


@st.composite
def delivered_again(
    draw: st.DrawFn,
    events: st.SearchStrategy[PresenceEvent],
    *,
    max_size: int,
    max_copies: int,
    subscription: str | None = None,
) -> list[PresenceEvent]:
    """A list of ``events`` where some are delivered once more later, as an overlapping
    group subscription would (tagged with ``subscription`` when given)."""
    seq = draw(st.lists(events, max_size=max_size))
    for _ in range(draw(st.integers(0, max_copies))):
        if not seq:
            break
        original = seq[draw(st.integers(0, len(seq) - 1))]
        again = original if subscription is None else original.replace(subscription=subscription)
        seq.insert(draw(st.integers(0, len(seq))), again)
    return seq
