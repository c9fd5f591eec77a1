"""Taking a number: each service with its state and wait, priority on request, the issued ticket."""

from __future__ import annotations

from kivy.factory import Factory

from kiosk.aloud import service_line  # the line Home, the service list and "Đọc to" share
from kiosk.screens import KScreen

__all__ = ["PriorityScreen", "ServiceScreen", "TicketScreen", "service_line"]

CLOSED_FILL = (0.42, 0.45, 0.50, 1)


class ServiceScreen(KScreen):
    def refresh(self, topic):
        if topic not in ("screen", "lang", "waiting", "ticket"):
            return
        c = self.c
        grid = self.ids.grid
        grid.clear_widgets()
        for svc in self.app.cfg.services:
            st = c.service_state(svc.series)
            b = Factory.KButton(tag=f"service:{svc.series}", markup=True, halign="left")
            b.text = (f"[b]{svc.name.get(c.visit.lang)}[/b]\n"
                      f"[size={int(self.app.fs(26))}]{service_line(self.tr, st, c.visit.lang)}  ·  "
                      f"{self.tr('service.letter', letter=svc.series)}[/size]")
            b.size_hint_y = 1
            if st and not st.get("can_issue", True):
                b.fill = CLOSED_FILL
            b.action = lambda s=svc.series: self.c.choose_service(s)
            grid.add_widget(b)
        group = self._group_name(c.visit.priority)
        self.ids.priority_state.text = self.tr("ticket.priority", group=group) if group else ""

    def _group_name(self, key):
        return next((g.name.get(self.c.visit.lang) for g in self.app.cfg.priority_groups if g.key == key), "")


class PriorityScreen(KScreen):
    def refresh(self, topic):
        if topic not in ("screen", "lang", "ticket"):
            return
        c = self.c
        series = c.visit.series or ""
        self.ids.service.text = c.service_name(series) if series else ""
        grid = self.ids.grid
        grid.clear_widgets()
        busy = c.visit.print_status == "issuing"
        for g in self.app.cfg.priority_groups:
            b = Factory.KQuiet(text=g.name.get(c.visit.lang), tag=f"priority:{g.key}")
            b.action = lambda k=g.key: self.c.choose_priority(k)
            b.disabled = busy
            grid.add_widget(b)


class TicketScreen(KScreen):
    def refresh(self, topic):
        if topic not in ("ticket", "lang", "reset", "screen"):
            return
        c, v = self.c, self.c.visit
        tk = v.ticket
        ids = self.ids
        if not tk:
            for k in ("number", "service", "counter", "ahead", "wait", "priority", "print_status"):
                ids[k].text = ""
            ids.qr.source = ""
            return
        ids.number.text = tk["number"]
        ids.service.text = c.service_name(tk["series"])
        ids.counter.text = self.tr("ticket.counter", counter=c.counter_names(tk))
        ids.ahead.text = self.tr("ticket.ahead", ahead=tk["ahead"])
        ids.wait.text = self.tr("ticket.wait", wait=tk.get(f"wait_text_{v.lang}") or tk.get("wait_text_vi", ""))
        group = next((g.name.get(v.lang) for g in self.app.cfg.priority_groups if g.key == tk.get("priority")), "")
        ids.priority.text = self.tr("ticket.priority", group=group) if group else ""
        status = {"printing": "ticket.printing", "printed": "ticket.printed", "failed": "ticket.print_failed",
                  "screen_only": "ticket.screen_only", "issuing": "ticket.issuing"}.get(v.print_status)
        ids.print_status.text = self.tr(status) if status else ""
        ids.print_status.color = (0.60, 0.11, 0.09, 1) if v.print_status == "failed" else (0.10, 0.11, 0.13, 1)
        ids.qr.source = tk.get("qr", "")
