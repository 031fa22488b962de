"""Benchmarks of the egress plane (recordings, the live stream)."""
