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
# # Rosters over time: an afternoon in virtual time
#
# Four hours of presence on three chat rooms, simulated, recorded to a file, replayed
# through `to_roster` in virtual time, and plotted. Nothing waits for the clock: the
# whole afternoon replays in about a second.
#
# * `rxpresence.simulate` plays what PubNub would deliver, with the ground truth
#   (who is really there) alongside.
# * `rxpresence.record` writes events to JSON Lines and plays them back.
# * A `HistoricalScheduler` is a virtual clock: scheduled work runs in time order,
#   as fast as the CPU allows, and `scheduler.now` tells the virtual time.

# %%
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from reactivex.scheduler import HistoricalScheduler

import rxpresence.operators as rxo
from rxpresence.notebook import to_dataframe
from rxpresence.record import read_events, record, replay
from rxpresence.simulate import busy_afternoon, simulate


def virtual_clock(start: float) -> HistoricalScheduler:
    """A virtual clock starting at Unix time `start`."""
    return HistoricalScheduler(datetime.fromtimestamp(start, UTC))


# %% [markdown]
# ## Simulate an afternoon
#
# `busy_afternoon()` describes three rooms: `lobby` (about 45 people, so above
# PubNub's default Announce Max of 20: interval mode), `random` (about 17, crossing
# the Announce Max now and then) and `support` (a handful). A quarter of the sessions
# are flaky.

# %%
config = busy_afternoon()
pd.DataFrame(
    [
        {
            "channel": p.name,
            "arrivals / min": round(p.arrival_rate * 60, 2),
            "mean session (min)": p.session_seconds / 60,
            "present at start": p.initial_members,
            "flaky sessions": p.flaky_fraction,
            "announce max": p.announce_max,
        }
        for p in config.channels
    ]
).set_index("channel")

# %%
sim = simulate(config, duration=4 * 3600, seed=2024)
print(sim)
pd.crosstab(
    pd.Series([e.channel for _, e in sim], name="channel"),
    pd.Series([e.action.value for _, e in sim], name="action"),
)

# %% [markdown]
# The lobby sends almost nothing but `interval` events (and individual state
# changes, which PubNub keeps announcing in interval mode).
#
# ## Record it
#
# `record` subscribes to a stream and writes each event with its offset on the
# scheduler's clock. Played on a virtual clock, the file is written in a fraction of a
# second, with the offsets of the afternoon. A `.gz` name compresses it.

# %%
workdir = Path(tempfile.mkdtemp(prefix="rxpresence-"))
path = workdir / "afternoon.jsonl.gz"

clock = virtual_clock(sim.config.start)
recording = record(sim.observable(scheduler=clock), path, scheduler=clock)
clock.start()  # run the virtual afternoon
print(recording, f"{path.stat().st_size / 1024:.0f} KiB")

# %%
events = read_events(path)
events[:3]

# %% [markdown]
# ## Replay through `to_roster`, in virtual time
#
# `replay(path, speed=1.0, scheduler=clock)` emits each event at its recorded offset on
# the clock. Each channel gets its own pipeline: `to_roster(channel)` keeps the events of
# that channel and folds them into immutable `Roster` snapshots. Each snapshot is
# stored with the virtual time it was emitted at.

# %%
clock = virtual_clock(sim.config.start)
source = replay(path, speed=1.0, scheduler=clock)

snapshots = []  # one row per snapshot
latest = {}  # channel -> its latest Roster


def keep(roster):
    latest[roster.channel] = roster
    snapshots.append(
        {
            "time": clock.now,
            "channel": roster.channel,
            "roster size": len(roster),
            "reported occupancy": roster.occupancy,
        }
    )


for channel in sim.channels:
    source.pipe(rxo.to_roster(channel)).subscribe(keep)
clock.start()
rosters = pd.DataFrame(snapshots)
print(len(rosters), "roster snapshots")
rosters.groupby("channel").tail(1).set_index("channel")

# %% [markdown]
# At the end of the afternoon every roster holds exactly the people the simulator says
# are there:

# %%
exact = {
    channel: roster.uuids == sim.present(channel, sim.duration)
    for channel, roster in latest.items()
}
assert all(exact.values())
exact

# %% [markdown]
# ## Events as a DataFrame
#
# `to_dataframe` gives one row per event: the offset `t`, the UTC `time` of the
# timetoken, the action, the uuid and, for interval events, how many uuids each array
# names.

# %%
frame = to_dataframe(events)
frame.head()

# %% [markdown]
# ## Occupancy: reported, roster size, and the truth
#
# The *reported* occupancy is PubNub's count on each event; the *roster size* is how
# many members the roster holds; the *truth* is who the simulator says is there.
#
# In the lobby (interval mode) the roster learns about joins and departures only at
# each interval event, every 10 s, while state changes in between already carry the
# current count: the reported occupancy runs slightly ahead of the roster size.

# %%
truth_times = pd.date_range(
    datetime.fromtimestamp(sim.config.start, UTC), periods=4 * 360 + 1, freq="10s"
)

fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
for ax, channel in zip(axes, sim.channels, strict=True):
    mine = rosters[rosters.channel == channel]
    ax.step(mine.time, mine["reported occupancy"], where="post", label="reported occupancy")
    ax.step(mine.time, mine["roster size"], where="post", label="roster size", alpha=0.8)
    truth = [sim.occupancy(channel, (t.timestamp() - sim.config.start)) for t in truth_times]
    ax.plot(truth_times, truth, ":", color="black", label="truth", alpha=0.7)
    ax.set_title(channel)
    ax.set_ylabel("people")
axes[0].legend(loc="upper right")
axes[-1].set_xlabel("time (UTC)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Zoomed in on ten minutes of the lobby, the steps of interval mode show: the roster
# moves once every interval.

# %%
lobby = rosters[rosters.channel == "lobby"].set_index("time")
window = lobby.loc[lobby.index[0] + pd.Timedelta("60min") : lobby.index[0] + pd.Timedelta("70min")]
ax = window[["reported occupancy", "roster size"]].plot(drawstyle="steps-post", figsize=(10, 3))
ax.set_ylabel("people")
ax.set_title("lobby, 15:00 to 15:10")
plt.show()

# %% [markdown]
# ## Joins and departures per minute
#
# A join is either a `join` event or a uuid in an interval event's `join` array;
# likewise for leaves and timeouts. The `joins`, `leaves` and `timeouts` columns count
# the arrays.

# %%
frame["arrived"] = (frame.action == "join").astype(int) + frame.joins
frame["departed"] = (
    frame.action.isin(["leave", "timeout"]).astype(int) + frame.leaves + frame.timeouts
)
per_minute = (
    frame.set_index("time").groupby("channel")[["arrived", "departed"]].resample("1min").sum()
)

fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
for ax, channel in zip(axes, sim.channels, strict=True):
    counts = per_minute.loc[channel]
    ax.plot(counts.index, counts.arrived, label="joins")
    ax.plot(counts.index, -counts.departed, label="leaves and timeouts")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_title(channel)
    ax.set_ylabel("per minute")
axes[0].legend(loc="upper right")
axes[-1].set_xlabel("time (UTC)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Many of those joins and departures are not people arriving and leaving but
# connections dropping and coming back: the simulator knows which.

# %%
flickers = Counter(f.channel for f in sim.flickers)
sessions = Counter(s.channel for s in sim.sessions)
pd.DataFrame({"sessions": sessions, "flickers": flickers})

# %% [markdown]
# [03_flicker.py](03_flicker.py) looks at those flickers and at what suppressing
# them costs.
