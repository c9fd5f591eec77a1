"""Routers of the staff server; every module here with a `router` is included by `create_app`."""
