"""Colour checks of the kiosk's palette (kv/base.kv): WCAG 2 contrast."""

from __future__ import annotations


def contrast_ratio(fg: tuple, bg: tuple) -> float:
    """WCAG 2 contrast ratio of two sRGB colours given as 0..1 floats."""

    def lum(c):
        def ch(v):
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        r, g, b = (ch(float(x)) for x in c[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    a, b = sorted((lum(fg), lum(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)
