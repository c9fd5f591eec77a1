"""The staff web server: counter consoles, hall display, ticket status, administration, reports, JSON API.

`create_app(cfg)` builds the FastAPI application; `staff.server.serve(cfg)` runs it with uvicorn
and `staff.server.start_in_thread(cfg)` runs it beside the kiosk. See docs/staff.md.
"""
