"""`schoolcam-sim demo`: broker, controller, a seeded district, real agents, a simulated fleet.

`Demo(DemoOptions(...))` is the composition root (simulator/demo/runner.py); docs/demo.md says
what it starts, prints and breaks.
"""

from simulator.demo.runner import Demo, DemoError, DemoOptions, run_demo

__all__ = ["Demo", "DemoError", "DemoOptions", "run_demo"]
