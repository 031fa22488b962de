"""The teaching surface under load: ``python -m bench.whiteboard`` (see README.md here)."""
