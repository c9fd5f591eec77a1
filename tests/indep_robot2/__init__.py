"""A second independent guide-robot firmware, written from docs/robot-protocol.md alone."""
