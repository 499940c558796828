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
# # Your own traffic: record it, then explore it
#
# The other notebooks start from a simulation. This one starts where you would with
# your own app: record what PubNub delivers with `rxpresence.record`, then load the file
# and look at it: who was there when, which departures were flickers, and how long
# people were gone before they came back.
#
# To run offline, the recording here is made against the local presence server, with a
# few real SDK clients that join, set state, drop and come back. Against your keyset only
# the configuration changes (see "Against PubNub" below); everything from "Load it" on
# works with any recording.

# %%
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import reactivex
from pubnub.pubnub import PubNub
from reactivex import operators as ops
from reactivex.scheduler import HistoricalScheduler

import rxpresence as rxp
import rxpresence.operators as rxo
from rxpresence.notebook import to_dataframe
from rxpresence.record import read_events, record, replay
from rxpresence.server import LocalPresenceServer

# %% [markdown]
# ## Record
#
# `record(presence, path)` writes every event of the hub as it arrives, one JSON line
# each, flushed at once, so the file is complete up to the last event even if the
# process dies. It runs until disposed (it is also a context manager).
#
# `wait_for` blocks until the roster satisfies a condition, with a deadline: a roster
# stream hands its current value to each new subscriber, so nothing is missed.

# %%
workdir = Path(tempfile.mkdtemp(prefix="rxpresence-"))
path = workdir / "lobby.jsonl"

# hold_timeout=1: idle long polls return after 1 s, so a client that was timed out
# comes back quickly.
server = LocalPresenceServer(hold_timeout=1).start()
watcher = PubNub(server.pnconfig("watcher"))
presence = rxp.PresenceStreams(watcher)
recording = record(presence, path)


def wait_for(predicate, timeout=10.0):
    """Block until the lobby's roster satisfies `predicate`; return that roster."""
    return (
        presence.roster("lobby")
        .pipe(ops.filter(predicate), ops.first(), ops.timeout(timeout))
        .run()
    )


watcher.subscribe().channels(["lobby"]).with_presence().execute()
wait_for(lambda r: "watcher" in r)
recording

# %% [markdown]
# ### Some traffic
#
# Four people arrive and `ada` sets her state. `bo`'s connection drops three times: the
# server times him out, and his app reconnects a moment later with a new client and the
# same uuid (a flicker). `cy` leaves, and `di`'s client dies, so he times out for good.
# The pauses only stage the scenes (how long a connection stays down, a second between
# scenes); everything else waits for what it needs to see.

# %%
clients = {name: PubNub(server.pnconfig(name)) for name in ("ada", "bo", "cy", "di")}
for client in clients.values():
    client.subscribe().channels(["lobby"]).execute()
wait_for(lambda r: set(clients) <= r.uuids)

clients["ada"].set_state().channels(["lobby"]).state({"mood": "focused"}).sync()
wait_for(lambda r: r["ada"].state is not None)


def flicker(uuid, away):
    """`uuid`'s connection drops, and its app reconnects `away` seconds later."""
    clients[uuid].stop()  # a dropped connection sends no leave...
    server.expire("lobby", uuid)  # ...so PubNub times it out
    wait_for(lambda r: uuid not in r)
    time.sleep(away)
    clients[uuid] = PubNub(server.pnconfig(uuid))
    clients[uuid].subscribe().channels(["lobby"]).execute()
    wait_for(lambda r: uuid in r)


for away in (0.5, 1.5, 3.0):
    time.sleep(1)
    flicker("bo", away)

time.sleep(1)
clients["cy"].unsubscribe().channels(["lobby"]).execute()
wait_for(lambda r: "cy" not in r)

time.sleep(1)
clients.pop("di").stop()  # a client that dies sends no leave
server.expire("lobby", "di")
wait_for(lambda r: "di" not in r)

recording.dispose()
recording

# %% [markdown]
# Everything started above stops here: the clients, the hub and the server.

# %%
for client in [*clients.values(), watcher]:  # the watcher last
    client.unsubscribe_all()
    client.stop()
presence.close()
server.stop()

# %% [markdown]
# ### Against PubNub
#
# The same recording of your own keyset needs only your configuration; leave it running
# as long as you like (a `.gz` name compresses the file):
#
# ```py
# from pubnub.pnconfiguration import PNConfiguration
#
# config = PNConfiguration()
# config.subscribe_key, config.user_id = "sub-c-...", "recorder"
# pubnub = PubNub(config)
# with rxp.PresenceStreams(pubnub) as presence, record(presence, "lobby.jsonl.gz"):
#     pubnub.subscribe().channels(["lobby"]).with_presence().execute()
#     input("recording; press Enter to stop")
# ```
#
# ## Load it
#
# A recording is a text file, one JSON object per line: the offset `t` in seconds since
# the recording started, and the event.

# %%
print(*path.read_text(encoding="utf-8").splitlines()[:3], sep="\n")

# %% [markdown]
# `read_events` reads it back into `(offset, event)` pairs, and `to_dataframe` turns
# those into a table. `source` tells the events PubNub delivered (`live`) from those
# the hub made when it compared its roster with a here-now snapshot (`resync`): the
# people who were there before the recording started.

# %%
events = read_events(path)
frame = to_dataframe(events)
frame[["t", "action", "uuid", "occupancy", "state", "source"]]

# %% [markdown]
# ## Who was there, over time
#
# Replayed on a virtual clock, the recording rebuilds the rosters the app saw, at the
# recorded offsets, in an instant. Two rosters side by side: the raw one, and one whose
# departures are held for a grace period (`suppress_flicker`), as an app that hides
# flickers would show it. Each bar is one person's time in the roster.

# %%
GRACE = 5.0  # seconds
clock = HistoricalScheduler(datetime.fromtimestamp(0, UTC))  # reads the recording's offsets
# A replay completes after its last event, and a completed stream releases the
# departures still held at once; kept open like a live stream, the grace runs out.
source = replay(path, speed=1.0, scheduler=clock).pipe(ops.concat(reactivex.never()))
raw, graced = [], []
source.pipe(rxo.to_roster("lobby")).subscribe(
    lambda roster: raw.append((clock.now.timestamp(), roster.uuids))
)
source.pipe(rxo.suppress_flicker(GRACE, scheduler=clock), rxo.to_roster("lobby")).subscribe(
    lambda roster: graced.append((clock.now.timestamp(), roster.uuids))
)
clock.start()


def stays(snapshots, end):
    """uuid -> the (start, length) spans during which it was in the roster."""
    spans, since = {}, {}
    for t, uuids in [*snapshots, (end, frozenset())]:
        for uuid in uuids - since.keys():
            since[uuid] = t
        for uuid in since.keys() - uuids:
            spans.setdefault(uuid, []).append((since[uuid], t - since.pop(uuid)))
    return spans


start, end = raw[0][0] - 0.5, max(raw[-1][0], graced[-1][0]) + 0.5
people = sorted({uuid for _, uuids in raw for uuid in uuids}, reverse=True)
fig, axes = plt.subplots(1, 2, figsize=(12, 3), sharey=True)
for ax, snapshots, title in (
    (axes[0], raw, "raw roster"),
    (axes[1], graced, f"roster with grace={GRACE:g} s"),
):
    spans = stays(snapshots, end)
    for row, uuid in enumerate(people):
        ax.broken_barh(spans.get(uuid, []), (row - 0.35, 0.7), color="tab:blue")
    ax.set_yticks(range(len(people)), people)
    ax.set_xlim(start, end)
    ax.set_xlabel("seconds since the recording started")
    ax.set_title(title)
fig.tight_layout()
plt.show()

# %% [markdown]
# **What to see:** on the left, `bo`'s bar has three holes, his three flickers, each a
# little longer than the half second, second and a half and three seconds his
# connection stayed down (reconnecting takes a moment too). On the right, with a grace
# period longer than all three, the holes are gone. `cy`'s leave shows at once on both
# sides (only timeouts are held, by default), but `di`, who timed out for real, stays on
# the graced roster five seconds longer: that is what hiding flickers costs.
#
# ## Flickers and rejoin gaps
#
# From the live events alone: every departure (`leave` or `timeout`), and how long the
# uuid was gone before its next `join`, if it came back at all.

# %%
live = frame[frame.source == "live"].sort_values("t")
rows = []
for uuid, mine in live.groupby("uuid"):
    departed = None
    for event in mine.itertuples():
        if event.action in ("leave", "timeout"):
            departed = event
        elif event.action == "join" and departed is not None:
            rows.append((uuid, departed.action, departed.t, round(event.t - departed.t, 3)))
            departed = None
    if departed is not None:
        rows.append((uuid, departed.action, departed.t, None))
gaps = pd.DataFrame(rows, columns=["uuid", "departure", "at (s)", "back after (s)"])
gaps

# %% [markdown]
# A departure followed by a join is a flicker; its gap is how long a grace period must
# be to hide it. On your own recordings, the distribution of these gaps is what to pick
# a grace period from: long enough for most flickers, short enough that real
# departures (the rows that never came back) do not show too late.
# [03_flicker.py](03_flicker.py) measures that trade-off on a simulated crowd.

# %%
flickers = gaps.dropna()
gone = sorted(gaps[gaps["back after (s)"].isna()].uuid)
print(f"{len(flickers)} flickers, back after {flickers['back after (s)'].max():.2f} s at most;")
print("departures that did not come back:", gone)

# The story told above, checked: three flickers of bo's, all shorter than the grace
# period, so his graced bar is one piece; cy and di gone for good.
assert list(flickers.uuid) == ["bo"] * 3 and (flickers["back after (s)"] < GRACE).all()
assert gone == ["cy", "di"]
assert len(stays(graced, end)["bo"]) == 1 and len(stays(raw, end)["bo"]) == 4
