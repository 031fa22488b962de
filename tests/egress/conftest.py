"""The media tests' namespace and Janus, for the live-stream tests."""

from media.conftest import in_netns, janus, netns  # noqa: F401
