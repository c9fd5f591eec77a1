"""Small widget classes shared by the screens (their look is in kv/base.kv)."""

from __future__ import annotations

import math
import weakref
from contextlib import contextmanager
from types import MethodType

from kivy.metrics import dp
from kivy.properties import ColorProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.button import Button
from kivy.uix.label import Label


def _tight_render(core, real=False):
    """Kivy's core label `render`, but a wrapped or aligned text's texture as wide as its longest
    line (with the padding), not as wide as `text_size`: Kivy makes it as wide as the box."""
    size = type(core).render(core, real)
    if real or not size or not core._text_size[0] or core.options.get("halign") == "justify":
        return size
    return min(size[0], max(2, math.ceil(core._internal_size[0]))), size[1]


class TightText:
    """A Label or Button whose text texture is as wide as its longest line, not its box.

    With software OpenGL every pixel of a texture is drawn (and kept in memory) whether it
    holds text or is transparent: a result row's one line of text was a 1,824 × 94 texture, a
    key's word as wide as the key. The text is drawn where the wide texture put it
    (`text_x`: left, centred or right in the `text_size` box), so nothing moves on screen.
    """

    def _create_label(self):
        super()._create_label()
        core = self._label
        if core is not None and "render" not in vars(core):
            core.render = MethodType(_tight_render, core)

    def text_x(self, *_) -> int:
        """x of the texture: where Kivy's box-wide texture would have put this line."""
        tw, box = self.texture_size[0], self.text_size[0]
        if not box or self.halign in ("center", "justify"):
            return int(self.center_x - tw / 2.0)
        left = int(self.center_x - box / 2.0)
        return left + int(box - tw) if self.halign == "right" else left


class KText(TightText, Label):
    """The kiosk's Label (kv/base.kv draws it at `text_x`)."""


class KButton(TightText, Button):
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


class ListRow(TightText, Button):
    """One row of a list (RecycleView viewclass): `text` shown, `action()` on tap, `key` for tests."""

    action = ObjectProperty(None, allownone=True)
    key = StringProperty("")
    tag = StringProperty("")
    #: (None, height) of the row, estimated from its wrapped text (RecycleView key_size)
    row_size = ObjectProperty(None, allownone=True)

    def on_release(self):
        if self.action is not None:
            self.action()


def clip_by_scissor(view) -> bool:
    """Clip a StencilView (ScrollView, RecycleView) with the scissor test instead of the stencil.

    Kivy's StencilView draws its rectangle twice into the stencil buffer every frame (to set the
    clip and to remove it). With software OpenGL (Mesa llvmpipe, a kiosk PC without a GPU) each
    is a pass over the list's whole area: ~13 ms of a frame's CPU for a full-height list here
    (fields, procedures, the detail page), a few ms for the search results. An axis-aligned clip in window coordinates, which every kiosk list is,
    is what the scissor test does for free. Returns False when `view` has no stencil clip.
    """
    from kivy.graphics import BindTexture, StencilPop, StencilPush, StencilUnUse, StencilUse
    from kivy.graphics.scissor_instructions import ScissorPop, ScissorPush

    def span(group, first, last):
        """Indices of `first` … `last` (the rule's stencil rectangle and its texture binding between)."""
        ins = list(group.children)
        i = next((k for k, x in enumerate(ins) if isinstance(x, first)), None)
        j = next((k for k, x in enumerate(ins) if isinstance(x, last) and i is not None and k > i), None)
        return (i, ins[i:j + 1]) if i is not None and j is not None and j - i <= 4 else (None, [])

    before, after = view.canvas.before, view.canvas.after
    i, push_part = span(before, StencilPush, StencilUse)
    j, pop_part = span(after, StencilUnUse, StencilPop)
    if i is None or j is None:
        return False
    for group, part in ((before, push_part), (after, pop_part)):
        for ins in part:
            if not isinstance(ins, BindTexture):  # a Rectangle takes its own texture binding with it
                group.remove(ins)
    push = ScissorPush(x=0, y=0, width=1, height=1)
    before.insert(i, push)
    after.insert(j, ScissorPop())

    def place(*_):
        x0, y0 = view.to_window(view.x, view.y)
        w, h = max(0, int(round(view.width))), max(0, int(round(view.height)))
        if _EXPORT_HEIGHT:  # drawn upside down into an image (export_to_png): y from the top
            y0 = _EXPORT_HEIGHT[-1] - y0 - h
        push.x, push.y, push.width, push.height = int(x0), int(y0), w, h

    from kivy.core.window import Window

    view.fbind("pos", place)
    view.fbind("size", place)
    Window.fbind("size", place)  # a rotation moves the window's top edge
    place()
    _PLACERS.add(place)
    view._scissor_place = place  # the set holds it weakly: it lives as long as the view
    return True


def free_text_surfaces() -> None:
    """Let each label's rendered pixels go once they are in its texture.

    Kivy's SDL2 text provider renders a label into an SDL surface, copies it into the texture
    and keeps the surface (`_surface`) until that label is rendered again: a second copy, in
    the kiosk's memory, of every label's texture on every screen built (~20 MB for the kiosk's
    screens, most of them wide rows; the pygame provider deletes its surface). Kivy re-renders
    from the text when a texture must be rebuilt, never from the surface.
    """
    from kivy.core.text import Label as CoreLabel

    if getattr(CoreLabel, "_frees_surface", False):
        return
    render_end = CoreLabel._render_end

    def _render_end(self):
        try:
            return render_end(self)
        finally:
            if getattr(self, "_surface", None) is not None:
                self._surface = None

    CoreLabel._render_end = _render_end
    CoreLabel._frees_surface = True


_PLACERS: weakref.WeakSet = weakref.WeakSet()
_EXPORT_HEIGHT: list[float] = []


def exporting() -> bool:
    """True while a widget is being drawn into an image (`scissors_for_export`)."""
    return bool(_EXPORT_HEIGHT)


def follow_export(fn) -> None:
    """Call `fn()` when an export to an image begins and ends (it reads `exporting()`); held
    weakly: its owner keeps a reference to it."""
    _PLACERS.add(fn)
    fn()


@contextmanager
def scissors_for_export(height: float):
    """While a widget is exported as an image (`export_to_png` draws it upside down into an
    Fbo; the scissor test, in raw pixels, is not flipped with it), clip the lists at the
    mirrored place and tell those who `follow_export` (the root clears the image to the page
    colour); the screen itself is drawn as before."""
    _EXPORT_HEIGHT.append(height)
    try:
        for place in list(_PLACERS):
            place()
        yield
    finally:
        _EXPORT_HEIGHT.pop()
        for place in list(_PLACERS):
            place()
