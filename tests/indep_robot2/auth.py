"""Keyed handshake of section 13: the two HMAC-SHA256 macs and nonces."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_NONCE = re.compile(r"[0-9A-Fa-f]{8,16}")


def _mac(key: str, message: str) -> str:
    return hmac.new(key.encode("ascii"), message.encode("ascii"), hashlib.sha256).hexdigest()[:16]


def mac_robot(key: str, kiosk_nonce: str, robot_nonce: str, boot_id: str) -> str:
    """mac_R: the robot's proof that it knows the key."""
    return _mac(key, f"XVK1|R|{kiosk_nonce}|{robot_nonce}|{boot_id}")


def mac_kiosk(key: str, kiosk_nonce: str, robot_nonce: str) -> str:
    """mac_K: what the kiosk must send back in its AUTH."""
    return _mac(key, f"XVK1|K|{kiosk_nonce}|{robot_nonce}")


def valid_nonce(nonce: str) -> bool:
    """8-16 hex digits; anything else counts as an empty nonce."""
    return bool(_NONCE.fullmatch(nonce))


def new_nonce() -> str:
    """A fresh 16-hex-digit robot nonce."""
    return secrets.token_hex(8)
