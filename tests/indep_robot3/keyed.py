"""Keyed handshake of spec section 13: nonces and the two HMAC-SHA256 macs."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_NONCE = re.compile(r"[0-9A-Fa-f]{8,16}")


def valid_nonce(text: str) -> bool:
    """8-16 hex digits, either case (a nonce is used exactly as received)."""
    return bool(_NONCE.fullmatch(text))


def new_nonce() -> str:
    """A fresh 16-digit lower-case nonce."""
    return secrets.token_hex(8)


def _mac(key: str, message: str) -> str:
    return hmac.new(key.encode("ascii"), message.encode("ascii"), hashlib.sha256).hexdigest()[:16]


def mac_r(key: str, kiosk_nonce: str, robot_nonce: str, boot_id: str) -> str:
    """The robot's proof."""
    return _mac(key, f"XVK1|R|{kiosk_nonce}|{robot_nonce}|{boot_id}")


def mac_k(key: str, kiosk_nonce: str, robot_nonce: str) -> str:
    """The kiosk's proof expected in its AUTH."""
    return _mac(key, f"XVK1|K|{kiosk_nonce}|{robot_nonce}")


def mac_matches(expected: str, given: str) -> bool:
    """Compare a received mac (upper-case digits accepted) in constant time."""
    return hmac.compare_digest(expected.lower(), given.lower())
