"""Test-wide fixtures: real broker, real cameras, real databases (see tests/harness)."""

pytest_plugins = [
    "tests.fixtures.broker",
    "tests.fixtures.cameras",
    "tests.fixtures.postgres",
]
