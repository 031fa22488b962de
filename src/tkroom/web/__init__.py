"""The browser side of tkroom: the tkroom.js SDK bundle, the classroom page and the playback
page of recorded lessons, as routes."""

from tkroom.web.routes import STATIC_DIR, web_routes

__all__ = ["STATIC_DIR", "web_routes"]
