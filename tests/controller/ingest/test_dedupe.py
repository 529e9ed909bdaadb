"""The in-memory seen-set: exact per seq, not a high-water mark, and bounded."""

from __future__ import annotations

from controller.ingest.dedupe import SeenSet


def test_out_of_order_replays_pass_and_repeats_do_not() -> None:
    seen = SeenSet(per_boot=3, boots=2)
    assert seen.first_time("b", "boot", 10)
    assert seen.first_time("b", "boot", 5)  # older seq, first time: kept
    assert not seen.first_time("b", "boot", 10)
    assert seen.first_time("b", "other-boot", 10)
    for seq in (11, 12, 13):
        assert seen.first_time("b", "boot", seq)
    assert seen.first_time("b", "boot", 5)  # forgotten past the bound; the DB key decides
    assert seen.first_time("c", "boot", 1)
    assert seen.first_time("b", "other-boot", 10)  # oldest boot evicted
