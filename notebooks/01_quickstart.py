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
# # Quick start: live rosters from real SDK clients
#
# This notebook runs offline. It starts rxpresence's local PubNub-compatible presence
# server in the kernel, connects a few real `pubnub` SDK clients to it, and watches
# them with `rxpresence.PresenceStreams`: who is online, their state, leaves and
# timeouts, live.
#
# Run the cells in order; the last one stops everything.

# %%
import threading

from pubnub.pubnub import PubNub
from reactivex import operators as ops

import rxpresence as rxp
from rxpresence.notebook import show, stop_all, to_dataframe
from rxpresence.server import LocalPresenceServer

# hold_timeout=1: idle long polls are answered after 1 s instead of PubNub's 280 s,
# so a client comes back quickly after the server times it out.
server = LocalPresenceServer(hold_timeout=1).start()
server

# %% [markdown]
# `server.pnconfig(uuid)` returns a `PNConfiguration` pointed at the server. It sets
# `daemon=True`, so the SDK's request threads never keep the kernel from exiting.
#
# The SDK calls listeners on its own thread. To wait for something from the notebook,
# `wait_for` filters a roster stream and blocks on the first match: a roster stream
# hands its current value to each new subscriber, so the condition is never missed.
#
# A subscriber receives only the events that happen after its subscription is set up,
# on PubNub as here. The hub covers the gap with here-now snapshots (when a roster is
# first requested, and again once the subscription is connected), so whoever was
# there before is listed too. Waiting for the watcher to appear in its own roster makes
# sure the subscription is up before the cells below make things happen.

# %%
watcher = PubNub(server.pnconfig("watcher"))
assert watcher.config.daemon
presence = rxp.PresenceStreams(watcher)

events = []  # every presence event, for a table at the end
presence.events.subscribe(events.append)


def wait_for(predicate, channel="lobby", timeout=5.0):
    """Block until the roster of `channel` satisfies `predicate`; return that roster."""
    return (
        presence.roster(channel)
        .pipe(ops.filter(predicate), ops.first(), ops.timeout(timeout))
        .run()
    )


watcher.subscribe().channels(["lobby"]).with_presence().execute()
wait_for(lambda r: "watcher" in r)

# %% [markdown]
# ## The live view
#
# `show` keeps one output area up to date with the latest value of a stream, a few
# times a second at most. A `Roster` renders as a table. Keep an eye on these two
# outputs while the cells below run.

# %%
roster_view = show(presence.roster("lobby"), key="roster")

# %%
occupancy_view = show(
    presence.occupancy("lobby"), key="occupancy", render=lambda n: f"{n} online in lobby"
)


# %% [markdown]
# ## People arrive

# %%
clients = {name: PubNub(server.pnconfig(name)) for name in ("alice", "bob", "carol")}
for client in clients.values():
    client.subscribe().channels(["lobby"]).execute()

roster = wait_for(lambda r: {"alice", "bob", "carol"} <= r.uuids)
roster

# %% [markdown]
# ## State
#
# Presence state belongs to a (uuid, channel) pair and is replaced whole by each
# `set_state`. The watcher sees a `state-change` event; the member's `state` changes
# in the next snapshot.

# %%
clients["alice"].set_state().channels(["lobby"]).state({"mood": "focused"}).sync()
clients["bob"].set_state().channels(["lobby"]).state({"mood": "away"}).sync()

roster = wait_for(lambda r: all(r[u].state is not None for u in ("alice", "bob")))
{uuid: dict(roster[uuid].state or {}) for uuid in sorted(roster.uuids)}

# %% [markdown]
# ## A graceful leave
#
# Unsubscribing sends a `leave`: the member is removed at once.

# %%
clients["bob"].unsubscribe().channels(["lobby"]).execute()
roster = wait_for(lambda r: "bob" not in r)
sorted(roster.uuids), roster.occupancy

# %% [markdown]
# ## A timeout
#
# A client that dies without a leave stops sending requests; PubNub times it out after
# the presence timeout (300 s by default). `server.expire` does it now. Carol's client
# is stopped first, so she stays gone.
#
# A second roster with `grace=3` shows what flicker suppression does with a timeout:
# it holds the departure for three seconds, in case the same uuid comes back.

# %%
graced = []
presence.roster("lobby", grace=3).subscribe(graced.append)

clients["carol"].stop()  # no leave is sent
server.expire("lobby", "carol")
roster = wait_for(lambda r: "carol" not in r)
print("raw roster:   ", sorted(roster.uuids))
print("graced roster:", sorted(graced[-1].uuids), "(the timeout is held)")

# %%
gone = threading.Event()
presence.roster("lobby", grace=3).pipe(ops.filter(lambda r: "carol" not in r)).subscribe(
    lambda r: gone.set()
)
assert gone.wait(8)
print("graced roster:", sorted(graced[-1].uuids), "(released after 3 s)")

# %% [markdown]
# ## A flicker
#
# Alice's client is still running. When the server times her out, her next request
# joins her again: a timeout followed by a join, the "flicker" of a reloading page or a
# flaky network. The raw roster shows her gone for a moment; the graced one never does.

# %%
count_before = len(graced)
back = threading.Event()
presence.joins.pipe(ops.filter(lambda e: e.uuid == "alice")).subscribe(lambda e: back.set())
server.expire("lobby", "alice")
assert back.wait(5), "alice did not come back"

flicker = [e for e in events if e.uuid == "alice" and e.source == "live"][-2:]
print("raw events:", [e.action.value for e in flicker])
assert all("alice" in roster for roster in graced[count_before:])
print("graced roster: alice never left")

# %% [markdown]
# ## Every event, as a table

# %%
frame = to_dataframe(events)
frame[["t", "action", "uuid", "occupancy", "state"]]

# %% [markdown]
# ## Final roster, and shutting down
#
# Alice is back, without her state: PubNub clears state when a uuid times out.
#
# Stop the live views, the clients (the watcher last), the hub and the server.

# %%
final = presence.current("lobby")
print(final)
print({uuid: dict(final[uuid].state or {}) for uuid in sorted(final.uuids)})

stop_all()
for name, client in clients.items():
    if name != "carol":  # already stopped
        client.unsubscribe_all()
        client.stop()
watcher.unsubscribe_all()
watcher.stop()
presence.close()
server.stop()
