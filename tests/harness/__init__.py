"""Real parts for tests and benchmarks: a throwaway Mosquitto, PostgreSQL and test PKI.

Each starts as a child process on a free loopback port with its own files in a temp dir,
is waited for by readiness (the port answers), and is killed by PID when done.
"""
