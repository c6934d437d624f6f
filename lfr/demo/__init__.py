"""`lfr demo`: the town-centre scenario on embedded defaults, traced end to end, with its
transparency report. See `lfr.demo.orchestrator` for the time line."""

from lfr.demo.dashboard import DemoUI, DemoView, PlainUI, RichUI
from lfr.demo.orchestrator import DemoOptions, run_demo

__all__ = ["DemoOptions", "DemoUI", "DemoView", "PlainUI", "RichUI", "run_demo"]
