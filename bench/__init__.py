"""Benchmarks: scripts that print a table (never timed assertions in tests)."""
