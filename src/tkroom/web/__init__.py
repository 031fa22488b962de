"""The browser side of tkroom: the tkroom.js SDK bundle and the classroom page, as routes."""

from tkroom.web.routes import STATIC_DIR, web_routes

__all__ = ["STATIC_DIR", "web_routes"]
