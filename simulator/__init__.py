"""Simulated cameras and fleets: the demo, the tests and the benchmarks run on them.

This is the one package allowed to start both an agent and a controller.
"""
