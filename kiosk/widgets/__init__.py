"""Kiosk widgets: big buttons and list rows, the on-screen Telex keyboard, the floor map.

`telex` is pure (no Kivy) so the typing rules are unit-tested without a window.
"""
