"""Staff: the PIN pad (checked by `centre.pin.PinGate` through the backend: persistent, lengthening
lockout, audited), then counters, device status, catalogue re-import, test print, leaving kiosk mode."""

from __future__ import annotations

from typing import Any

from centre.pin import PinResult
from kiosk.flows.base import ControllerBase
from kiosk.visit import Screen


def _plain(obj: Any) -> Any:
    """A teammate's record (dataclass, object with to_dict, dict) as a plain dict."""
    if obj is None or isinstance(obj, dict | str | int | float | list):
        return obj
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return dict(vars(obj))


class StaffFlow(ControllerBase):
    def _init_flows(self) -> None:
        super()._init_flows()
        self.printer_status: dict = {}
        self.staff_counters: list[dict] = []
        self.staff_busy = ""
        self.pin_entry = ""
        self.pin_checking = False

    def _forget(self) -> None:
        super()._forget()
        self.pin_entry = ""

    def refresh_status(self, *_):
        self._run("io", self.backend.printer_status, self._got_printer, lambda exc: None)
        if self.escort_mgr is not None and hasattr(self.escort_mgr, "status"):
            self._run("io", self.escort_mgr.status, self._got_robot, lambda exc: None)

    def _got_printer(self, st: dict) -> None:
        self.printer_status = st
        self._emit("status")

    def _got_robot(self, st: Any) -> None:
        self.robot_status = _plain(st) if st is not None else {}
        self._emit("status")

    def open_staff(self) -> None:
        self.activity()
        self.pin_entry = ""
        self.go(Screen.PIN)
        self._emit("pin")

    def pin_key(self, key: str) -> None:
        self.activity()
        if key == "back":
            self.pin_entry = self.pin_entry[:-1]
        elif key == "clear":
            self.pin_entry = ""
        elif key.isdigit() and len(self.pin_entry) < 12:
            self.pin_entry += key
        self._emit("pin")

    def pin_submit(self) -> None:
        self.activity()
        if self.pin_checking:
            return
        pin, self.pin_entry = self.pin_entry, ""
        self.pin_checking = True
        self._emit("pin")
        self._run("db", lambda: self.backend.check_pin(pin), self._pin_checked,
                  lambda exc: (setattr(self, "pin_checking", False), self.show_message("error.database")))

    def _pin_checked(self, answer: dict) -> None:
        self.pin_checking = False
        result = PinResult(answer["result"])
        if result == PinResult.OK:
            self.go(Screen.STAFF, remember=False)
            self.staff_refresh()
            self.show_message(None)
        elif result == PinResult.LOCKED:
            self.show_message("staff.pin_locked", minutes=max(1, round(answer.get("locked_for", 60) / 60)))
        elif result == PinResult.NOT_SET:
            self.show_message("staff.pin_not_set")
        else:
            self.show_message("staff.pin_wrong", tries=answer.get("tries_left", 0))
        self._emit("pin")

    def staff_refresh(self) -> None:
        self._run("db", self.backend.counters, self._got_counters, lambda exc: self.show_message("error.database"))
        self.refresh_status()

    def _got_counters(self, counters: list[dict]) -> None:
        self.staff_counters = counters
        self._emit("staff")

    def set_counter_state(self, counter_id: int, state: str) -> None:
        self.activity()
        self._run("db", lambda: (self.backend.set_counter_state(counter_id, state), self.backend.counters())[1],
                  self._got_counters, lambda exc: self.show_message("error.database"))

    def _staff_job(self, busy: str, pool: str, fn, done, fail_key: str) -> None:
        """Run a staff action off the UI thread, showing "working…" until `done(result)` or a failure."""
        self.activity()
        self.staff_busy = busy
        self._emit("staff")

        def finished(result):
            self.staff_busy = ""
            done(result)

        def failed(exc):
            self.staff_busy = ""
            self.show_message(fail_key)

        self._run(pool, fn, finished, failed)

    def reimport_catalogue(self) -> None:
        def done(n):
            self.show_message("staff.reimported", count=n)
            self._run("db", self.backend.fields, self._got_fields)

        self._staff_job("reimport", "db", self.backend.reimport_catalogue, done, "staff.reimport_failed")

    def test_print(self) -> None:
        def done(ok):
            self.show_message("staff.test_print_ok" if ok else "staff.test_print_failed")
            self.refresh_status()

        self._staff_job("print", "io", self.backend.test_print, done, "staff.test_print_failed")

    def leave_kiosk(self) -> None:
        """Staff 'leave kiosk mode': the app closes its window (the desktop shows)."""
        self._emit("leave")
