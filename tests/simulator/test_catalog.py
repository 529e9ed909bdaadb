"""A simulated district looks like a real one: mostly current firmware, a few old builds."""

from __future__ import annotations

import random

from controller.fleet.firmware import judge_firmware
from simulator.fleet.catalog import CAMERAS_PER_BOX, plan_cameras

BOXES = 300


def test_a_few_cameras_per_hundred_run_an_old_build_and_the_rest_pass_their_profile() -> None:
    rng = random.Random(2026)
    verdicts = [
        judge_firmware(plan.inventory.profile, plan.inventory.firmware)
        for _ in range(BOXES)
        for plan in plan_cameras(rng)
    ]
    assert len(verdicts) == BOXES * CAMERAS_PER_BOX
    assert all(verdict.known for verdict in verdicts)  # every string is one its profile reads
    old = [verdict for verdict in verdicts if verdict.outdated]
    assert 0.02 < len(old) / len(verdicts) < 0.08  # enough to show the alarm, not a flood
    assert all(verdict.vulnerabilities for verdict in old)
