"""An independent guide-robot firmware simulation, written from docs/robot-protocol.md 1.1 alone.

It imports nothing from the project (robot/, kiosk/): it checks that the written spec is enough.
"""
