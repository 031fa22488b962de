"""The egress plane: what leaves a class as video (recordings, the live stream)."""
