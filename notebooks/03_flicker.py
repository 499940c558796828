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
# # Flicker: how much grace?
#
# A browser reloading a tab, a phone going to background, a flaky network: the client
# times out (or leaves) and joins again a few seconds later. Every app that shows who
# is online ends up holding departures for a grace period, so that these "flickers"
# never show, and picks the period by hand.
#
# `suppress_flicker(grace)` does the holding. This notebook measures, on simulated
# flaky clients whose ground truth is known, what a grace period buys (flickers
# hidden) and what it costs (real departures shown late), from 0 to 60 s.

# %%
import bisect
from collections import defaultdict
from datetime import UTC, datetime

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from reactivex.scheduler import HistoricalScheduler

import rxpresence.operators as rxo
from rxpresence import Action
from rxpresence.simulate import ChannelProfile, simulate

# %% [markdown]
# ## Flaky clients
#
# One room of about 45 people. Half the sessions are flaky: every five minutes on
# average their connection drops for 2 to 40 seconds. PubNub reports most drops as a
# `timeout`; one in five as a `leave` (a page reload). The room stays below its
# Announce Max, so every event is announced.

# %%
room = ChannelProfile(
    "room",
    arrival_rate=1 / 20,  # a new visitor every 20 s
    session_seconds=900,
    initial_members=30,
    flaky_fraction=0.5,
    drop_every=300,
    drop_seconds=(2, 40),
    reload_fraction=0.2,
    vanish_fraction=0.3,  # 30% of visits end with a timeout, the rest with a leave
    announce_max=1000,
)
sim = simulate(room, duration=4 * 3600, seed=7)
print(sim)

flickers = pd.DataFrame(
    sim.flickers, columns=["channel", "uuid", "action", "dropped_at", "rejoined_at", "announced"]
)
flickers["gap"] = flickers.rejoined_at - flickers.dropped_at
flickers["action"] = flickers.action.map(lambda a: a.value)
flickers.groupby("action").gap.describe()[["count", "min", "50%", "max"]]

# %% [markdown]
# ## Raw and suppressed occupancy
#
# Two pipelines on one virtual clock: the raw roster, and the roster behind
# `suppress_flicker(45, actions=("timeout", "leave"))`, which holds both kinds of
# departure for longer than any drop in this room lasts. The operator's timers run on
# the same clock, so the four hours replay in a moment.


# %%
def virtual_clock() -> HistoricalScheduler:
    return HistoricalScheduler(datetime.fromtimestamp(sim.config.start, UTC))


clock = virtual_clock()
source = sim.observable(scheduler=clock)
series = defaultdict(list)


def sample(name):
    return lambda roster: series[name].append((clock.now, roster.occupancy))


source.pipe(rxo.to_roster("room")).subscribe(sample("raw"))
source.pipe(
    rxo.suppress_flicker(45, actions=("timeout", "leave"), scheduler=clock),
    rxo.to_roster("room"),
).subscribe(sample("grace 45 s"))
clock.start()

fig, ax = plt.subplots(figsize=(10, 3.5))
start = datetime.fromtimestamp(sim.config.start + 3600, UTC)
end = datetime.fromtimestamp(sim.config.start + 3600 + 600, UTC)
for name, points in series.items():
    times, counts = zip(*[(t, n) for t, n in points if start <= t <= end], strict=True)
    ax.step(times, counts, where="post", label=name)
ax.set_ylabel("occupancy")
ax.set_title("Ten minutes of the room")
ax.legend()
plt.show()

{name: len(points) for name, points in series.items()}  # roster updates in 4 h

# %% [markdown]
# The raw line dips at every drop and comes back seconds later. With the grace period
# the dips are gone and the roster changes far less often. The price shows too: the
# graced line runs higher and follows real departures 45 s late, because a departure
# counts as present while it is held.
#
# ## Sweeping the grace period
#
# For each grace period, run the events through `suppress_flicker` in virtual time and
# score the output against the ground truth:
#
# * a flicker is **hidden** when no departure of its uuid is emitted between the drop
#   and the rejoin;
# * the **delay** of a real departure (the end of a visit) is the time from the
#   departure to the moment the output shows it.
#
# Two settings: holding timeouts only (the default), and holding leaves as well
# (`actions=("timeout", "leave")`), for apps whose clients reload pages.


# %%
def departures_emitted(grace, actions):
    """Virtual emission times of departures, per uuid, behind suppress_flicker(grace)."""
    clock = virtual_clock()
    origin = clock.now
    emitted = defaultdict(list)

    def on_event(event):
        if event.action in (Action.LEAVE, Action.TIMEOUT):
            emitted[event.uuid].append((clock.now - origin).total_seconds())

    source = sim.observable(scheduler=clock)
    if grace > 0:
        source = source.pipe(rxo.suppress_flicker(grace, actions=actions, scheduler=clock))
    source.subscribe(on_event)
    clock.start()
    return emitted


def first_after(times, t):
    i = bisect.bisect_left(times, t - 1e-6)
    return times[i] if i < len(times) else None


visits = defaultdict(list)  # uuid -> start of each of its visits, in order
for s in sim.sessions:
    visits[s.uuid].append(s.start)


def score(grace, actions):
    emitted = departures_emitted(grace, actions)
    hidden = 0
    for f in sim.flickers:
        shown = first_after(emitted[f.uuid], f.dropped_at)
        hidden += shown is None or shown >= f.rejoined_at
    delays = {Action.LEAVE: [], Action.TIMEOUT: []}
    for s in sim.sessions:
        if s.end is None:
            continue
        shown = first_after(emitted[s.uuid], s.end)
        back = first_after(visits[s.uuid], s.end)  # a returning visitor, if any
        if shown is not None and (back is None or shown < back):
            delays[s.end_action].append(shown - s.end)
        # else: the visitor came back within the grace period and never looked gone
    every = delays[Action.LEAVE] + delays[Action.TIMEOUT]
    return {
        "grace": grace,
        "holds": " + ".join(actions),
        "flickers hidden (%)": 100 * hidden / len(sim.flickers),
        "mean delay, all departures (s)": np.mean(every),
        "mean delay, timeouts (s)": np.mean(delays[Action.TIMEOUT]),
    }


sweep = pd.DataFrame(
    [
        score(grace, actions)
        for actions in (("timeout",), ("timeout", "leave"))
        for grace in range(0, 61, 5)
    ]
)
sweep.pivot(index="grace", columns="holds", values="flickers hidden (%)").round(1)

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
for holds, rows in sweep.groupby("holds"):
    left.plot(rows.grace, rows["flickers hidden (%)"], "o-", label=f"holds {holds}")
    right.plot(
        rows["mean delay, all departures (s)"],
        rows["flickers hidden (%)"],
        "o-",
        label=f"holds {holds}",
    )
    for _, row in rows[rows.grace % 20 == 0].iterrows():
        right.annotate(
            f"{row.grace} s",
            (row["mean delay, all departures (s)"], row["flickers hidden (%)"]),
            textcoords="offset points",
            xytext=(4, -10),
            fontsize=8,
        )
left.set_xlabel("grace (s)")
left.set_ylabel("flickers hidden (%)")
left.set_title("What grace buys")
right.set_xlabel("mean extra delay before a real departure shows (s)")
right.set_title("The trade-off")
for ax in (left, right):
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# Reading the curves:
#
# * Hidden flickers grow with the grace until it covers the longest drops (40 s here);
#   past that point, more grace only delays real departures.
# * Holding timeouts only cannot hide the page-reload flickers (reported as leaves);
#   holding leaves too hides them, but then every graceful departure is late as well.
# * A real timeout always shows exactly `grace` seconds late
#   (`mean delay, timeouts`), on top of PubNub's own presence timeout.

# %%
sweep[sweep.grace.isin([0, 10, 20, 30, 45, 60])].round(1)

# %% [markdown]
# ## Choosing a grace period from your own recordings
#
# Without a simulator there is no ground truth, but the events themselves show how
# long drops last: the time between a uuid's timeout and its next join. Recorded
# events (`rxpresence.record`) give the same pairs.


# %%
def rejoin_gaps(events, within=120.0):
    """Seconds between each departure and the same uuid's next join (if within `within`)."""
    departed = {}
    gaps = []
    for t, event in events:
        key = (event.channel, event.uuid)
        if event.action in (Action.LEAVE, Action.TIMEOUT):
            departed[key] = (t, event.action.value)
        elif event.action is Action.JOIN and key in departed:
            since, action = departed.pop(key)
            if t - since <= within:
                gaps.append((action, t - since))
    return pd.DataFrame(gaps, columns=["after", "gap"])


gaps = rejoin_gaps(sim)
gaps.groupby("after").gap.quantile([0.5, 0.9, 0.99]).unstack().round(1)

# %% [markdown]
# A grace near the 90th percentile of the timeout gaps hides nine flickers in ten;
# the last tenth costs the most delay. Returning visitors (someone who really left and
# came back within the window) count as gaps too, so on real data the tail is longer.
