"""Small widget classes shared by the screens (their look is in kv/base.kv)."""

from __future__ import annotations

from kivy.metrics import dp
from kivy.properties import ColorProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.button import Button


class KButton(Button):
    """A large touch button (≥ 88 px high); `fill` is its background colour."""

    fill = ColorProperty((0.043, 0.310, 0.541, 1))
    #: what the tap does; a zero-argument callable (set from Python or kv)
    action = ObjectProperty(None, allownone=True)
    #: a stable name for tests and the accessibility audit (not shown)
    tag = StringProperty("")
    #: the button's least height; it grows with its text (set this, not `height`, in kv: the
    #: class rule's height follows the text and would undo a fixed height)
    min_height = NumericProperty(dp(88))

    def on_touch_down(self, touch):
        # a hidden button (opacity 0, often also disabled) must not take the touch of what is beneath
        if self.opacity == 0:
            return False
        return super().on_touch_down(touch)

    def on_release(self):
        if self.action is not None:
            self.action()


class ListRow(Button):
    """One row of a list (RecycleView viewclass): `text` shown, `action()` on tap, `key` for tests."""

    action = ObjectProperty(None, allownone=True)
    key = StringProperty("")
    tag = StringProperty("")
    #: (None, height) of the row, estimated from its wrapped text (RecycleView key_size)
    row_size = ObjectProperty(None, allownone=True)

    def on_release(self):
        if self.action is not None:
            self.action()
