"""``python -m rxpresence``: the ``rxpresence`` command (``demo``, ``watch``, ``serve``)."""

from .cli import main

raise SystemExit(main())
