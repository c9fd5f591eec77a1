"""Taking a number: which service, priority or not, then the issued ticket and its printing."""

from __future__ import annotations

from kivy.factory import Factory

from kiosk.screens import KScreen


class ServiceScreen(KScreen):
    def refresh(self, topic):
        if topic not in ("screen", "lang", "reset", "waiting"):
            return
        c = self.c
        grid = self.ids.grid
        grid.clear_widgets()
        for svc in self.app.cfg.services:
            info = c.waiting.get(svc.series) or {}
            line = self.tr("service.waiting", waiting=info.get("waiting", 0))
            b = Factory.KButton(tag=f"service:{svc.series}", markup=True)
            b.text = (f"[size={int(self.app.fs(44))}][b]{svc.series}[/b][/size]   {svc.name.get(c.visit.lang)}\n"
                      f"[size={int(self.app.fs(28))}]{line}[/size]")
            b.size_hint_y = 1
            b.action = lambda s=svc.series: self.c.choose_service(s)
            grid.add_widget(b)


class PriorityScreen(KScreen):
    def refresh(self, topic):
        if topic not in ("screen", "lang", "reset", "ticket"):
            return
        c = self.c
        series = c.visit.series or ""
        self.ids.service.text = f"{series} – {c.service_name(series)}" if series else ""
        grid = self.ids.grid
        grid.clear_widgets()
        for g in self.app.cfg.priority_groups:
            b = Factory.KQuiet(text=g.name.get(c.visit.lang), tag=f"priority:{g.key}")
            b.action = lambda k=g.key: self.c.issue(k)
            grid.add_widget(b)
        busy = c.visit.print_status == "issuing"
        self.ids.none.disabled = busy
        for b in grid.children:
            b.disabled = busy


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
        ids.service.text = self.tr("ticket.service", service=c.service_name(tk["series"]))
        ids.counter.text = self.tr("ticket.counter", counter=c.counter_names(tk))
        ids.ahead.text = self.tr("ticket.ahead", ahead=tk["ahead"])
        ids.wait.text = (self.tr("ticket.wait", wait=tk["wait_min"]) if tk["wait_min"] >= 1
                         else self.tr("ticket.wait_soon"))
        group = next((g.name.get(v.lang) for g in self.app.cfg.priority_groups if g.key == tk.get("priority")), "")
        ids.priority.text = self.tr("ticket.priority", group=group) if group else ""
        status = {"printing": "ticket.printing", "printed": "ticket.printed", "failed": "ticket.print_failed",
                  "issuing": "ticket.issuing"}.get(v.print_status)
        ids.print_status.text = self.tr(status) if status else ""
        ids.print_status.color = (0.60, 0.11, 0.09, 1) if v.print_status == "failed" else (0.10, 0.11, 0.13, 1)
        ids.qr.source = tk.get("qr", "")
