"""``python -m rxpresence.server``: run the local presence server (see ``docs/server.md``)."""

from ._cli import main

raise SystemExit(main())
