"""The live presence console behind the ``rxpresence`` command (private).

How the pieces fit:

* ``_model``: :class:`ConsoleModel`, the console's state. It is fed from any thread
  (the SDK's worker thread, flicker timers) and hands out immutable
  :class:`ViewState` snapshots; it also counts the flickers the grace period hides.
* ``_bind``: :class:`Binding` connects a :class:`~rxpresence.PresenceStreams` hub to a
  model, using only rxpresence's public API.
* ``_view``: rich renderables of a snapshot (pure functions of the snapshot).
* ``_lines``: plain-text and JSON lines for output that is not a terminal.
* ``_output``: the three displays (live view, plain lines, JSON lines) and the loop
  that drives one until a deadline, a stop request or Ctrl-C.
* ``_summary``: the end-of-run summary and the roster check against the server.
* ``_cast``: the demo's cast, a seeded plan played by real PubNub SDK clients.
* ``_demo``, ``_watch``: the ``demo`` and ``watch`` commands.
"""
