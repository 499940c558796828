"""``python -m rxpresence.server``: run the local presence server (see ``docs/server.md``)."""

from . import main

raise SystemExit(main())
