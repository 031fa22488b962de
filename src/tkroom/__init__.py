"""tkroom: a self-hostable real-time interactive classroom platform."""

__version__ = "0.1.0"
