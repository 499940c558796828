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

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
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
# Three numbers describe each room: the *truth* (how many people the simulator says are
# there), the *roster size* (how many members the roster holds) and the *reported*
# occupancy (PubNub's count on each event). Drawn on one axis they hide each other, so
# the top row shows the truth and the two rows below show how far each of the others is
# from it, second by second, one room per column.
#
# **What to see:** in `support`, where PubNub announces every join and leave, both
# errors are zero all afternoon. In the `lobby` (interval mode) the roster learns about
# arrivals and departures only at each interval event, every 10 s: in between it is off
# by a few people either way, and never for a whole interval. `random` is exact while
# it is well below the Announce Max (20 people) and errs like the lobby around and above
# it, where it switches to interval mode. State changes, still announced in interval
# mode, carry the current count: the reported occupancy is right a little more often
# than the roster size.

# %%
seconds = np.arange(1, sim.duration + 1)
grid = pd.to_datetime(sim.config.start + seconds, unit="s", utc=True)


def on_grid(channel):
    """Truth, roster size and reported occupancy of `channel` at every second."""
    mine = rosters[rosters.channel == channel].drop_duplicates("time", keep="last")
    known = mine.set_index("time")[["roster size", "reported occupancy"]]
    counts = known.reindex(grid, method="ffill").fillna(0)
    counts["truth"] = [sim.occupancy(channel, t) for t in seconds]
    return counts


def longest_run(mismatch):
    """The longest run of consecutive True values, in samples."""
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, mismatch.astype(int), 0])))[::2]
    return int(runs.max()) if len(runs) else 0


fig, axes = plt.subplots(
    3, 3, figsize=(13, 7), sharex=True, sharey="row", gridspec_kw={"height_ratios": [2, 1, 1]}
)
summary = {}
for column, channel in enumerate(sim.channels):
    counts = on_grid(channel)
    roster_error = counts["roster size"] - counts.truth
    reported_error = counts["reported occupancy"] - counts.truth
    axes[0, column].step(grid, counts.truth, where="post", color="black", linewidth=0.8)
    axes[1, column].step(grid, roster_error, where="post", color="tab:orange", linewidth=0.6)
    axes[2, column].step(grid, reported_error, where="post", color="tab:blue", linewidth=0.6)
    axes[0, column].set_title(channel)
    summary[channel] = {
        "roster right (% of seconds)": round(100 * (roster_error == 0).mean(), 1),
        "reported right (% of seconds)": round(100 * (reported_error == 0).mean(), 1),
        "longest roster error (s)": longest_run(roster_error.to_numpy() != 0),
    }
axes[0, 0].set_ylabel("people there\n(truth)")
axes[1, 0].set_ylabel("roster size\nminus truth")
axes[2, 0].set_ylabel("reported\nminus truth")
for ax in axes[1:, :].flat:
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_ylim(-6.5, 6.5)  # cuts the lobby's first 10 s, before its first interval
for ax in axes[-1, :]:
    ax.set_xlabel("time (UTC)")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
fig.tight_layout()
plt.show()

# The sentences above, checked: exact in support, never wrong for a whole interval.
assert summary["support"]["roster right (% of seconds)"] == 100.0
assert all(row["longest roster error (s)"] < 10 for row in summary.values())
pd.DataFrame(summary).T

# %% [markdown]
# Zoomed in on ten minutes of the lobby, the steps of interval mode show: the roster
# moves once every interval.

# %%
lobby = rosters[rosters.channel == "lobby"].set_index("time")
window = lobby.loc[lobby.index[0] + pd.Timedelta("60min") : lobby.index[0] + pd.Timedelta("70min")]
ax = window[["reported occupancy", "roster size"]].plot(drawstyle="steps-post", figsize=(10, 3))
ax.set_ylabel("people")
ax.set_title("lobby, 15:00 to 15:10")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the data, not over it
plt.tight_layout()
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
