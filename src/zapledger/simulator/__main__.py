"""``python -m zapledger.simulator``: run the simulated myenergi cloud in the foreground."""

from __future__ import annotations

from .server import main

raise SystemExit(main())
