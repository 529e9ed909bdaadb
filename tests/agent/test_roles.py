"""The periodic-role base: ticks come, a failing tick does not end the loop, stop is prompt.

These run the real base class on real threads with short intervals; every wait is on an event
with a bound, never a bare sleep.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from agent.roles import PeriodicRole

pytestmark = pytest.mark.timeout(20)

LONG = 60.0  # an interval no test waits out: a tick that comes anyway came for another reason


class CountingRole(PeriodicRole):
    """A role that counts its ticks and lets a test wait for the n-th one."""

    def __init__(
        self, interval_s: float, *, fail_on: set[int] | None = None, tick_at_start: bool = False
    ) -> None:
        super().__init__(
            "test-counting", interval_s, join_timeout_s=2.0, tick_at_start=tick_at_start
        )
        self.ticks = 0
        self.fail_on = fail_on or set()
        self.threads: set[str] = set()
        self._changed = threading.Condition()

    def tick(self) -> None:
        with self._changed:
            self.ticks += 1
            self.threads.add(threading.current_thread().name)
            self._changed.notify_all()
            if self.ticks in self.fail_on:
                raise ValueError(f"tick {self.ticks} fails on purpose")

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.ticks >= count, timeout)


@pytest.fixture
def roles() -> Iterator[list[PeriodicRole]]:
    """Roles a test started; all are stopped afterwards, whatever the test did."""
    started: list[PeriodicRole] = []
    yield started
    for role in started:
        role.stop(1.0)


def test_tick_runs_every_interval_on_a_named_thread(roles: list[PeriodicRole]) -> None:
    role = CountingRole(0.01)
    roles.append(role)
    role.start()
    assert role.running
    assert role.wait_for(5)
    assert role.threads == {"test-counting"}


def test_first_tick_waits_one_interval_unless_asked_to_tick_at_start(
    roles: list[PeriodicRole],
) -> None:
    waiting = CountingRole(LONG)
    eager = CountingRole(LONG, tick_at_start=True)
    roles += [waiting, eager]
    waiting.start()
    eager.start()
    assert eager.wait_for(1)
    assert not waiting.wait_for(1, timeout=0.2)


def test_a_failing_tick_is_logged_with_the_role_name_and_the_loop_goes_on(
    roles: list[PeriodicRole], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="agent.roles")
    role = CountingRole(0.01, fail_on={1, 2})
    roles.append(role)
    role.start()
    assert role.wait_for(4)
    failures = [r for r in caplog.records if r.name == "agent.roles"]
    assert len(failures) >= 2
    assert "test-counting" in failures[0].getMessage()
    assert failures[0].exc_info is not None and failures[0].exc_info[0] is ValueError
    assert role.running


def test_stop_is_prompt_even_in_a_long_wait() -> None:
    role = CountingRole(LONG)
    role.start()
    began = time.monotonic()
    role.stop()
    assert time.monotonic() - began < 0.5
    assert not role.running
    assert role.ticks == 0


def test_stop_before_start_and_twice_is_harmless() -> None:
    role = CountingRole(LONG)
    role.stop()
    role.start()
    role.stop()
    role.stop()
    assert not role.running


def test_start_while_running_is_refused_and_a_stopped_role_starts_again(
    roles: list[PeriodicRole],
) -> None:
    role = CountingRole(0.01)
    roles.append(role)
    role.start()
    with pytest.raises(RuntimeError, match="test-counting is already running"):
        role.start()
    role.stop()
    assert not role.running
    ticks = role.ticks
    role.start()
    assert role.wait_for(ticks + 2)


def test_wake_ticks_now_rather_than_after_the_interval(roles: list[PeriodicRole]) -> None:
    role = CountingRole(LONG)
    roles.append(role)
    role.start()
    role.wake()
    assert role.wait_for(1, timeout=2.0)


class BlockedRole(PeriodicRole):
    """A role whose tick holds until the test releases it: a stop that cannot be prompt."""

    def __init__(self) -> None:
        super().__init__("test-blocked", LONG, join_timeout_s=0.1, tick_at_start=True)
        self.inside = threading.Event()
        self.release = threading.Event()

    def tick(self) -> None:
        self.inside.set()
        self.release.wait(10)


def test_stop_gives_up_after_its_timeout_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="agent.roles")
    role = BlockedRole()
    role.start()
    assert role.inside.wait(5)
    began = time.monotonic()
    role.stop()
    assert time.monotonic() - began < 1.0
    assert role.running and role.stopping
    assert any("test-blocked did not stop" in r.getMessage() for r in caplog.records)
    role.release.set()
    role.stop(5)
    assert not role.running


class BadWaitRole(CountingRole):
    """A role whose own wait computation fails: the loop falls back to the interval."""

    def next_wait_s(self) -> float:
        raise ZeroDivisionError("no interval today")


def test_a_failing_wait_computation_falls_back_to_the_interval(
    roles: list[PeriodicRole], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="agent.roles")
    role = BadWaitRole(0.01)
    roles.append(role)
    role.start()
    assert role.wait_for(3)
    assert any("next wait unknown" in r.getMessage() for r in caplog.records)
