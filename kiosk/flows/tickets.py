"""Taking a number honestly: each service's state before any tap, no ticket from a closed or
unattended service, one ticket per service per visit (an idempotency key), priority on request."""

from __future__ import annotations

from kiosk.flows.base import ControllerBase
from kiosk.visit import Screen


class TicketFlow(ControllerBase):
    def service_state(self, series: str | None) -> dict:
        """The service's state as last read ({} before the first read)."""
        return self.services.get(series or "", {})

    def open_ticket(self) -> None:
        """'Lấy số thứ tự' from Home: choose the service (each shows its state and wait)."""
        self.activity()
        self.visit.series = None
        self.go(Screen.SERVICE)
        self.refresh_home()

    def take_ticket_for_procedure(self, priority_first: bool = False) -> None:
        """'Lấy số' on a procedure: the service that receives it; `priority_first` asks the group first."""
        self.activity()
        proc = self.visit.procedure
        if not proc:
            return
        series = proc.get("series") or (proc.get("destination") or {}).get("series")
        if series:
            self._got_series(self._visit_id, series, priority_first)
            return
        visit = self._visit_id
        self._run("db", lambda: self.backend.service_for(proc["key"]),
                  lambda s: self._got_series(visit, s, priority_first),
                  lambda exc: self.show_message("error.catalogue"))

    def _got_series(self, visit: int, series: str | None, priority_first: bool) -> None:
        if visit != self._visit_id:
            return
        if not series:
            self.go(Screen.SERVICE)
            return
        if priority_first:
            self.visit.series = series
            self.open_priority()
        else:
            self.choose_service(series)

    def open_priority(self) -> None:
        """'Tôi thuộc diện ưu tiên': the priority groups (only for those who ask)."""
        self.activity()
        self.go(Screen.PRIORITY)
        self._emit("ticket")

    def choose_priority(self, group: str | None) -> None:
        """A priority group chosen: the ticket when the service is known, else back to the services."""
        self.activity()
        self.visit.priority = group
        if self.visit.series:
            self.issue(group)
        else:
            self.back()
            self._emit("ticket")

    def choose_service(self, series: str) -> None:
        self.activity()
        self.visit.series = series
        self.issue(self.visit.priority)

    def refusal(self, series: str) -> tuple[str, dict] | None:
        """Why no ticket can be issued for `series` now (i18n key, placeholders), or None."""
        st = self.service_state(series)
        state = st.get("state", "open")
        if state == "closed":
            if st.get("opens_time"):
                return "error.service_closed_until", {"time": st["opens_time"], "date": st.get("opens_date", "")}
            return "error.service_closed", {}
        if state == "no_counter":
            return "error.no_counter_for_service", {}
        return None

    def issue(self, priority: str | None) -> None:
        """Issue the ticket (priority: a cfg.priority_groups key or None), then print it.

        The same visit never gets a second ticket for a service: going back from the ticket and
        tapping again shows the one already issued.
        """
        self.activity()
        v = self.visit
        series = v.series
        if not series:
            self.go(Screen.SERVICE)
            return
        if series in v.tickets:
            self._show_ticket(v.tickets[series])
            return
        if v.print_status == "issuing":
            return  # a double tap
        refused = self.refusal(series)
        if refused:
            self.show_message(refused[0], **refused[1])
            return
        v.priority = priority
        v.print_status = "issuing"
        proc_key = v.procedure["key"] if v.procedure else None
        visit, lang, key = self._visit_id, v.lang, v.ticket_key(series)
        self._emit("ticket")
        self._run("db", lambda: self.backend.issue_ticket(series, priority, proc_key, lang, idempotency_key=key),
                  lambda t: self._issued(visit, t), lambda exc: self._issue_failed(visit, exc))

    def _show_ticket(self, ticket: dict) -> None:
        self.visit.ticket = ticket
        self.visit.destination = ticket.get("destination") or self.visit.destination
        self.go(Screen.TICKET)
        self._emit("ticket")

    def _issued(self, visit: int, ticket: dict) -> None:
        if visit != self._visit_id:
            # the visit ended (Home, idle) while the number was being taken: the queue holds it, so
            # it is printed all the same (the citizen who tapped is at the slot); it was dropped
            # unprinted, a number called at the counter that nobody held
            if self._prints():
                self._run("io", lambda: self.backend.print_ticket(ticket), None, lambda exc: None)
            self.refresh_home()
            return
        self.visit.tickets[ticket["series"]] = ticket
        if not self._prints():
            # a kiosk with no printer (printer.kind: none) said "the printer has a problem" on
            # every ticket, on screen and aloud: here the number and its QR are the ticket
            self.visit.print_status = "screen_only"
            self._show_ticket(ticket)
            self.refresh_home()
            return
        self.visit.print_status = "printing"
        self._show_ticket(ticket)
        self._run("io", lambda: self.backend.print_ticket(ticket),
                  lambda ok: self._printed(visit, ok), lambda exc: self._printed(visit, False))
        self.refresh_home()

    def _prints(self) -> bool:
        """Tickets are printed at this kiosk (not `printer.kind: none`)."""
        return getattr(self.backend, "prints", True)

    def _issue_failed(self, visit: int, exc: Exception) -> None:
        if visit != self._visit_id:
            return
        self.visit.print_status = ""
        key = getattr(exc, "i18n_key", None) or "error.ticket"
        self.show_message(key, **getattr(exc, "i18n_kw", {}))
        self._emit("ticket")
        self.refresh_home()

    def _printed(self, visit: int, ok: bool) -> None:
        if visit != self._visit_id:
            return
        self.visit.print_status = "printed" if ok else "failed"
        self._emit("ticket")
