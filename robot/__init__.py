"""The guide robot: an open serial protocol (protocol.py, pure), the serial link (link.py),
the escort manager the kiosk drives (escort.py) and a simulated robot (sim.py).

The protocol is documented for robot makers in docs/robot-protocol.md.
"""
