"""The fleet simulator: thousands of simulated school boxes speaking the real protocol.

`FleetSimulator(FleetSettings(schools=50, broker_url=...))` runs every box on one asyncio loop
in one thread; see docs/fleet-simulator.md for what the boxes publish and the fault model.
"""

from simulator.fleet.fleet import FdLimitError, FleetSimulator, raise_fd_limit
from simulator.fleet.settings import FleetSettings, FleetStats, load_passwords

__all__ = [
    "FdLimitError",
    "FleetSettings",
    "FleetSimulator",
    "FleetStats",
    "load_passwords",
    "raise_fd_limit",
]
