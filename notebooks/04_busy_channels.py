# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Busy channels: interval mode, deltas and snapshots
#
# Above the keyset's **Announce Max** (20 by default) PubNub stops announcing each
# join, leave and timeout on a channel. Every **Interval** seconds (10 by default) it
# sends one `interval` event instead, carrying the occupancy and, with **Presence
# Deltas** on, the uuids that joined, left and timed out since the previous one.
# When those arrays would be too large (about 30 KB of JSON), they are dropped and the
# event says "call here-now". The Python SDK loses that flag: a refresh arrives as an
# interval event with no arrays at all.
#
# A roster built from events alone cannot know who came and went during a refresh; a
# here-now snapshot can. This notebook shows the three kinds of interval event, and a
# roster that stays exact by folding in a snapshot whenever one is needed: first on a
# simulated arena of 150 people, then against the local server with a real SDK client.

# %%
import threading
import uuid
from collections import Counter

import matplotlib.pyplot as plt
import pandas as pd
import reactivex
from pubnub.pubnub import PubNub
from reactivex import operators as ops

import rxpresence as rxp
import rxpresence.operators as rxo
from rxpresence import Action, Member, Roster
from rxpresence.notebook import to_dataframe
from rxpresence.server import LocalPresenceServer
from rxpresence.simulate import ChannelProfile, simulate

# %% [markdown]
# ## A simulated arena
#
# About 150 people, announce max 20, an interval event every 10 s. `max_deltas=14`
# plays the size limit: an interval that would name more than 14 uuids becomes a
# refresh.

# %%
arena = ChannelProfile(
    "arena",
    arrival_rate=0.3,
    session_seconds=600,
    initial_members=150,
    flaky_fraction=0.3,
    announce_max=20,
    interval=10,
    max_deltas=14,
)
sim = simulate(arena, duration=1800, seed=2)
print(sim)
Counter(event.action.value for _, event in sim)

# %% [markdown]
# The first 20 arrivals are announced one by one; from then on the channel is in
# interval mode. Individual state changes keep coming (PubNub announces them in
# interval mode too).

# %%
frame = to_dataframe(sim)
intervals = frame[frame.action == "interval"]
intervals[["t", "occupancy", "joins", "leaves", "timeouts", "here_now_refresh"]].head(8)

# %%
refreshes = intervals[~intervals[["joins", "leaves", "timeouts"]].any(axis=1)]
print(f"{len(intervals)} interval events, {len(refreshes)} without arrays (refreshes)")
refreshes[["t", "occupancy", "here_now_refresh"]]

# %% [markdown]
# The first interval event, at 10 s, is a refresh already: 130 people arrived within
# a second. The others happen when a burst of arrivals and departures crosses the
# limit.
#
# ## `expand_intervals`
#
# `expand_intervals()` replaces each interval event by one join, leave or timeout per
# uuid, with the interval's timetoken and occupancy, for code that only understands
# individual events. A refresh passes through unchanged: there is nothing to expand.

# %%
one = next(e for _, e in sim if e.action is Action.INTERVAL and e.has_deltas)
print(one)
reactivex.of(one).pipe(rxo.expand_intervals(), ops.to_list()).run()

# %% [markdown]
# ## A roster from events alone drifts
#
# A watcher that starts at minute 1 takes a snapshot first (on PubNub: here-now;
# here: the simulator's truth, `sim.roster(channel, t)`), then folds in every event.
# `Roster.with_sync` replaces a roster's members by a snapshot's and marks it synced.
#
# Scored against the truth at each interval event, the roster is exact until the
# first refresh, then wrong by more and more people: whoever arrived or left during a
# refresh is never announced.

# %%
START = 60.0


def snapshot(t):
    """What here-now would return at offset `t`: the simulator's truth."""
    return sim.roster("arena", t)


def synced(roster, t, timetoken):
    truth = snapshot(t)
    return roster.with_sync(truth, occupancy=len(truth), timetoken=timetoken)


initial = synced(Roster("arena"), START, sim.timetoken(START))
later = [(t, e) for t, e in sim if t > START]


def drift(fold):
    """Replay the events after START through `fold`; count wrong members per interval."""
    roster, rows = initial, []
    for t, event in later:
        roster = fold(roster, t, event)
        if event.action is Action.INTERVAL:
            wrong = roster.uuids ^ sim.present("arena", t)
            rows.append({"t": t, "wrong members": len(wrong)})
    return pd.DataFrame(rows).set_index("t")["wrong members"], roster


def events_only(roster, t, event):
    return roster.apply(event)


naive, naive_final = drift(events_only)
print("wrong members at the end:", naive.iloc[-1])

# %% [markdown]
# ## A snapshot on every refresh keeps it exact
#
# The fix is to take a snapshot whenever an interval event has no arrays, and fold it
# in with `with_sync`. (An interval with no changes at all looks the same to the
# Python SDK, so a quiet channel costs one here-now per interval; the event's
# occupancy differing from the roster's size is a cheap hint that one is needed.)


# %%
def with_snapshots(roster, t, event):
    if event.action is Action.INTERVAL and not event.has_deltas:
        return synced(roster, t, event.timetoken)
    return roster.apply(event)


exact, exact_final = drift(with_snapshots)
print("wrong members at the end:", exact.iloc[-1], "- at worst:", exact.max())

fig, ax = plt.subplots(figsize=(10, 3.5))
ax.step(naive.index / 60, naive, where="post", label="events only")
ax.step(exact.index / 60, exact, where="post", label="events + a snapshot on each refresh")
for t in refreshes.t:
    ax.axvline(t / 60, color="grey", linewidth=0.6, linestyle=":")
ax.set_xlabel("minutes")
ax.set_ylabel("members wrong")
ax.set_title("Roster against the truth at each interval event (dotted: refreshes)")
ax.legend()
plt.show()

# %% [markdown]
# The same fold works as a stream: tag events and snapshots so the reducer knows which
# is which, and `scan`. Here each refresh is followed at once by its snapshot; on
# PubNub the snapshot is a here-now call made when the refresh arrives, and its result
# joins the stream when it comes back.


# %%
def with_snapshot(pair):
    t, event = pair
    if event.action is Action.INTERVAL and not event.has_deltas:
        return reactivex.of(("event", event), ("snapshot", snapshot(t), event.timetoken))
    return reactivex.of(("event", event))


def reducer(roster, item):
    if item[0] == "snapshot":
        _, truth, timetoken = item
        return roster.with_sync(truth, occupancy=len(truth), timetoken=timetoken)
    return roster.apply(item[1])


streamed = (
    reactivex.from_iterable(later)
    .pipe(
        ops.concat_map(with_snapshot),
        ops.scan(reducer, initial),
        ops.last(),
    )
    .run()
)
assert streamed.uuids == exact_final.uuids == sim.present("arena", sim.duration)
streamed

# %% [markdown]
# ## Against the local server, with the real SDK
#
# The local server implements interval mode too. With `announce_max=3`, a 1 s interval
# and a tiny `delta_limit` (the size in bytes of the arrays' JSON above which they are
# replaced by a refresh), a handful of clients is enough.
#
# Two hubs listen to the same watcher client: `presence`, as configured by default,
# takes here-now snapshots when it needs them; `events_only` (`here_now=None`) folds
# the events and nothing else.

# %%
server = LocalPresenceServer(announce_max=3, interval=1, delta_limit=50, hold_timeout=1).start()
watcher = PubNub(server.pnconfig("watcher"))
presence = rxp.PresenceStreams(watcher)
events_only = rxp.PresenceStreams(watcher, here_now=None)

seen = []
presence.events.subscribe(seen.append)


def wait_for(predicate, hub=presence, timeout=5.0):
    return hub.roster("arena").pipe(ops.filter(predicate), ops.first(), ops.timeout(timeout)).run()


watcher.subscribe().channels(["arena"]).with_presence().execute()
wait_for(lambda r: "watcher" in r, hub=events_only)  # the watcher's own join arrived

clients = []


def arrive(names):
    for name in names:
        client = PubNub(server.pnconfig(name))
        client.subscribe().channels(["arena"]).execute()
        clients.append(client)


arrive([f"fan-{i:02d}" for i in range(5)])
print(wait_for(lambda r: len(r) == 6, hub=events_only))
print([e for e in seen if e.action is Action.INTERVAL and e.has_deltas])

# %% [markdown]
# The first arrivals were announced one by one until the occupancy passed 3; the rest
# came in an interval event's `join` array. Both rosters are exact.
#
# Now ten more people arrive, with UUIDs as user ids, as many apps have. A single
# UUID already passes the 50-byte limit, so each interval event that would name them
# is a refresh. The events-only roster keeps its six members while the occupancy says
# sixteen.

# %%
refreshed = threading.Event()
events_only.intervals.pipe(ops.filter(lambda e: not e.has_deltas and e.occupancy == 16)).subscribe(
    lambda e: refreshed.set()
)
arrive([f"user-{uuid.uuid4()}" for _ in range(10)])
assert refreshed.wait(5), "no refresh arrived"
stale = events_only.current("arena")
print(stale, "- members:", len(stale))

# %% [markdown]
# The default hub saw the same refresh: an interval event without arrays whose
# occupancy disagrees with its roster. It asked here-now and folded the answer in as
# synthetic joins, marked `source="resync"`, through the same reducer (so a graced
# roster, a diff or a UI sees ordinary joins).

# %%
roster = wait_for(lambda r: len(r) == 16)
print(roster, "- synced at", roster.synced_at)
print(sum(e.source == "resync" for e in seen), "resync events")
assert roster.uuids == set(server.occupants("arena"))

# %% [markdown]
# `presence.resync("arena")` asks for a snapshot at any time. Outside the hub (a
# pipeline of operators, a replay), do what the simulation above did: call here-now and
# fold the answer in with `Roster.with_sync`.

# %%
envelope = watcher.here_now().channels(["arena"]).include_uuids(True).include_state(True).sync()
channel = envelope.result.channels[0]
members = [Member(o.uuid, o.state) for o in channel.occupants]
fixed = stale.with_sync(members, occupancy=channel.occupancy, timetoken=stale.timetoken)
assert fixed.uuids == roster.uuids
fixed

# %% [markdown]
# Stop the clients, the hubs and the server.

# %%
for client in clients:
    client.unsubscribe_all()
    client.stop()
watcher.unsubscribe_all()
watcher.stop()
presence.close()
events_only.close()
server.stop()
