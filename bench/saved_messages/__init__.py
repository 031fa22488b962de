"""Saved messages against the node's event loop: ``python -m bench.saved_messages``."""
