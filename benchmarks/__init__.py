"""Benchmarks of the analytics and the advisor: ``python -m benchmarks.run``."""
