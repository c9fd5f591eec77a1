"""One kiosk link (the serial line, or one TCP connection): ids, seq and handshake state."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from .frames import FrameReader


@dataclass
class Session:
    """Per-link state: remembered command ids with their acks, the keyed handshake."""

    keyed: bool = False
    authenticated: bool = False
    handshake: tuple[str, str] | None = None  # (kiosk nonce, robot nonce) awaiting AUTH
    ids: OrderedDict[str, list[str]] = field(default_factory=OrderedDict)
    reader: FrameReader = field(default_factory=FrameReader)
    seq: int = 0
    closed: bool = False

    @property
    def trusted(self) -> bool:
        """Frames from this link are kiosk signs of life and commands are acted on."""
        return not self.keyed or self.authenticated

    def next_seq(self) -> int:
        """The sender's frame counter, 0-999 then 0 again."""
        s = self.seq
        self.seq = (self.seq + 1) % 1000
        return s

    def forget(self) -> None:
        """A reboot: ids, handshake and authentication are gone."""
        self.ids.clear()
        self.handshake = None
        self.authenticated = False
