"""The web UI: server-rendered pages over the registry's data, under the API's access rules."""

from tagtrail.ui.routes import ROUTES

__all__ = ["ROUTES"]
