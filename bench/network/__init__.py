"""Benchmarks of reaching students on real networks (issue 10)."""
