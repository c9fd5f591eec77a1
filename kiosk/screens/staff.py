"""Staff: a PIN pad (hashed PIN in config, lockout after repeated wrong tries), then counters,
device status, catalogue re-import, test print and leaving kiosk mode."""

from __future__ import annotations

from kivy.factory import Factory
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout

from kiosk.screens import KScreen

PAD = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok"]


class PinScreen(KScreen):
    def on_kv_post(self, base_widget):
        self._built = False

    def _build(self):
        pad = self.ids.pad
        pad.clear_widgets()
        for key in PAD:
            if key == "ok":
                b = Factory.KButton(tag="pin:ok", fill=(0.05, 0.40, 0.18, 1))
                b.action = lambda: self.c.pin_submit()
            elif key == "clear":
                b = Factory.KQuiet(tag="pin:clear")
                b.action = lambda: self.c.pin_key("clear")
            else:
                b = Factory.KQuiet(tag=f"pin:{key}", text=key)
                b.font_size = dp(44)
                b.action = lambda k=key: self.c.pin_key(k)
            pad.add_widget(b)
        self._built = True

    def refresh(self, topic):
        if not self._built:
            self._build()
        if topic in ("pin", "lang", "screen", "reset"):
            self.ids.dots.text = "●" * len(self.c.pin_entry)
            for b in self.ids.pad.children:
                if b.tag == "pin:ok":
                    b.text = self.tr("staff.pin_ok")
                elif b.tag == "pin:clear":
                    b.text = self.tr("staff.pin_clear")


class StaffScreen(KScreen):
    def _state_text(self, ok):
        if ok is None:
            return self.tr("staff.unknown")
        return self.tr("staff.ok") if ok else self.tr("staff.fault")

    def refresh(self, topic):
        if topic not in ("staff", "status", "lang", "screen", "voice", "message"):
            return
        c = self.c
        app = self.app
        box = self.ids.counters
        box.clear_widgets()
        for ct in c.staff_counters:
            row = BoxLayout(size_hint_y=None, height=dp(96), spacing=dp(12))
            name = ct.get("name_en") if c.visit.lang == "en" and ct.get("name_en") else ct.get("name", str(ct["id"]))
            lab = Factory.KLabel(text=f"[b]{name}[/b]  {self.tr('staff.state_' + ct['state'])}", markup=True)
            lab.size_hint_y = 1
            row.add_widget(lab)
            for state, key in (("open", "staff.open"), ("paused", "staff.pause")):
                b = Factory.KButton(text=self.tr(key), tag=f"counter:{ct['id']}:{state}")
                b.size_hint = (None, 1)
                b.width = dp(210)
                b.disabled = ct["state"] == state
                b.opacity = 0.45 if b.disabled else 1
                b.action = lambda i=ct["id"], s=state: self.c.set_counter_state(i, s)
                row.add_widget(b)
            box.add_widget(row)
        pr = c.printer_status
        self.ids.printer.text = f"{self.tr('staff.printer')}: " + (
            self._state_text(pr.get("ok")) + (f" — {pr['detail']}" if pr.get("detail") else "") if pr else self.tr("staff.loading"))
        # printer.kind none: "Not used", as the robot and voice say, and no test print to fail
        # (it said "Working — no printer configured…" in English, and "In thử" failed: "check paper")
        prints = getattr(c.backend, "prints", True)
        if not prints:
            self.ids.printer.text = f"{self.tr('staff.printer')}: {self.tr('staff.absent')}"
        self.ids.test_print.disabled = not prints
        self.ids.test_print.opacity = 1 if prints else 0
        if c.escort_mgr is None:
            robot = self.tr("staff.absent")
        else:
            rs = c.robot_status or {}
            ok = rs.get("link", rs.get("connected", rs.get("ok")))
            robot = self._state_text(ok) + (f" — {rs['state']}" if rs.get("state") else "")
            if c.robot_alerts:
                robot += f" — {c.robot_alerts[-1]}"
        self.ids.robot.text = f"{self.tr('staff.robot')}: {robot}"
        if c.voice_missing_model:
            voice = self.tr("staff.voice_no_model", path=c.voice_error)
        elif c.voice is None:
            voice = self.tr("staff.absent") + (f" — {c.voice_error}" if c.voice_error else "")
        elif c.voice_ready:
            voice = self.tr("staff.ok")
        else:
            voice = (self.tr("staff.fault") + f" — {c.voice_error}") if c.voice_error else self.tr("staff.loading")
        self.ids.voice.text = f"{self.tr('staff.voice')}: {voice}"
        self.ids.busy.text = self.tr("staff.working") if c.staff_busy else ""
        _ = app
