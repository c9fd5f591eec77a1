"""Third independent guide-robot firmware, written from docs/robot-protocol.md alone.

Modules: ``frames`` (NMEA framing, checksum, stream decoder), ``keyed`` (HMAC handshake),
``world`` (waypoints, positions and the constants of the spec), ``robot`` (the pure state
machine: commands in, frames out, driven by an injected clock), ``serve`` (pty and TCP
transports), ``__main__`` (command line).
"""
