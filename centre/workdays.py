"""Working-day arithmetic for dossier due dates: weekends, public holidays, make-up days.

A `WorkCalendar` knows which dates are working days: Monday–Friday, minus the public
holidays listed in data/holidays.yaml (lunar ones given as solar dates), plus weekend
dates listed as make-up working days. `due_date` applies the rules of Vietnamese
administrative procedure time limits:

- the time limit counts from the working day after the dossier is received; a dossier
  received on a non-working day counts as received on the next working day;
- where the procedure says so (the 15:00 rule of the civil-status law), a dossier
  received after the cut-off time counts as received on the next working day;
- "same day" procedures are due on the (effective) day of receipt;
- limits in calendar days end on a working day (a due date on a holiday moves forward).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from centre.yamlfile import YamlError, line_of, load_with_lines


class HolidayFileError(ValueError):
    """The holidays file is missing or malformed."""


@dataclass(frozen=True)
class WorkCalendar:
    """Working days: Mon–Fri minus `holidays` plus `extra_working_days`."""

    holidays: frozenset[date] = field(default_factory=frozenset)
    extra_working_days: frozenset[date] = field(default_factory=frozenset)
    names: dict[date, str] = field(default_factory=dict, compare=False, hash=False)
    years_with_tet: frozenset[int] = field(default_factory=frozenset)

    def is_working_day(self, d: date) -> bool:
        if d in self.extra_working_days:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after `d`."""
        d += timedelta(days=1)
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def on_or_after(self, d: date) -> date:
        """`d` if it is a working day, else the next one."""
        return d if self.is_working_day(d) else self.next_working_day(d)

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (n = 0 gives `start` itself)."""
        d = start
        for _ in range(n):
            d = self.next_working_day(d)
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in (a, b]: how many working days from a until b (negative if b < a)."""
        if b < a:
            return -self.working_days_between(b, a)
        count, d = 0, a
        while d < b:
            d += timedelta(days=1)
            if self.is_working_day(d):
                count += 1
        return count


#: The longest holiday span one entry may give (Tết is 9-10 days): a mistyped year in `from`/`to`
#: (0001-01-01 to 9999-12-31) made a million dates and a minute of loading in every process.
MAX_SPAN_DAYS = 31
_KINDS = ("holidays", "working_days")


def load_calendar(path: str | Path) -> WorkCalendar:
    """Read data/holidays.yaml (see its header for the format). Every mistake in the file (not
    readable, not YAML, a year given twice, a part of the wrong shape) is a HolidayFileError
    naming the path, the key and the line: the queue ignores such a file and keeps issuing."""
    path = Path(path)
    try:
        data, lines = load_with_lines(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HolidayFileError(f"{path}: file not found") from None
    except OSError as exc:  # a folder, no permission
        raise HolidayFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise HolidayFileError(f"{path}: not UTF-8 text") from None
    except YamlError as exc:  # also a year given twice (safe_load kept the last, losing the first)
        raise HolidayFileError(f"{path}:{f' line {exc.line}:' if exc.line else ''} {exc.message}") from None
    data = {} if data is None else data
    _shaped(path, data, lines, (), dict, "a mapping with 'years:'")
    years = data.get("years") or {}
    _shaped(path, data, lines, ("years",), dict, "a mapping of years (2026: ...)")
    holidays: set[date] = set()
    working: set[date] = set()
    names: dict[date, str] = {}
    tet_years: set[int] = set()
    for year, entry in years.items():
        _shaped(path, data, lines, ("years", year), dict, "a mapping with holidays: and working_days:")
        for kind, target in (("holidays", holidays), ("working_days", working)):
            _shaped(path, data, lines, ("years", year, kind), list, "a list of {date: ...} or {from: ..., to: ...}")
            for i, item in enumerate((entry or {}).get(kind) or []):
                days = _entry_days(f"{_where(path, data, lines, ('years', year, kind, i))}", item)
                for d in days:
                    target.add(d)
                    names[d] = str(item.get("name", ""))
                if kind == "holidays" and "nguyên đán" in str(item.get("name", "")).lower():
                    tet_years.update(d.year for d in days)
    return WorkCalendar(frozenset(holidays), frozenset(working), names, frozenset(tet_years))


def _where(path: Path, data, lines, loc: tuple) -> str:
    line = line_of(data, lines, loc)
    label = ""
    for part in loc:  # years are keys (years.2026), entries list items (holidays[0])
        label += f"[{part}]" if isinstance(part, int) and label.endswith(_KINDS) else ("." if label else "") + str(part)
    return f"{path}: {label or '(top level)'}{f' (line {line})' if line else ''}"


def _shaped(path: Path, data, lines, loc: tuple, kind: type, what: str) -> None:
    """HolidayFileError unless the part at `loc` (when present and not empty) is a `kind`."""
    node = data
    for part in loc:
        node = node.get(part) if isinstance(node, dict) else None
    if node is not None and not isinstance(node, kind):
        raise HolidayFileError(f"{_where(path, data, lines, loc)}: expected {what}")


def _entry_days(where: str, item) -> list[date]:
    """The dates of one holidays/working_days entry: {date} or {from, to} (at most MAX_SPAN_DAYS)."""
    if not isinstance(item, dict):
        raise HolidayFileError(f"{where}: expected {{date: YYYY-MM-DD, name: ...}}")
    try:
        if "date" in item:
            return [_as_date(item["date"])]
        a, b = _as_date(item["from"]), _as_date(item["to"])
    except (KeyError, ValueError, TypeError) as exc:
        raise HolidayFileError(f"{where}: needs 'date' or 'from'/'to' as YYYY-MM-DD ({exc})") from None
    if b < a:
        raise HolidayFileError(f"{where}: 'to' is before 'from'")
    if (b - a).days >= MAX_SPAN_DAYS:
        raise HolidayFileError(f"{where}: {(b - a).days + 1} days from 'from' to 'to'; one entry gives at most "
                               f"{MAX_SPAN_DAYS} (is a year mistyped?)")
    return [a + timedelta(days=k) for k in range((b - a).days + 1)]


def _as_date(v) -> date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    return date.fromisoformat(str(v))


def effective_receipt_day(received: datetime, cal: WorkCalendar, *, cutoff: time | None) -> date:
    """The working day from which a time limit counts (cut-off applied when given)."""
    d = received.date()
    if not cal.is_working_day(d):
        return cal.next_working_day(d)
    if cutoff is not None and received.time() >= cutoff:
        return cal.next_working_day(d)
    return d


def due_date(
    received: datetime,
    value: float | None,
    unit: str,
    cal: WorkCalendar,
    *,
    cutoff: time | None = None,
) -> date | None:
    """Due date of a dossier received at `received` for a limit of `value` `unit`.

    unit: working_days | days | same_day | unknown. `cutoff` (e.g. 15:00) is given only
    for procedures that carry the afternoon rule. Returns None when the limit is unknown.
    """
    start = effective_receipt_day(received, cal, cutoff=cutoff)
    if unit == "same_day":
        return start
    if value is None or unit not in ("working_days", "days"):
        return None
    n = max(0, int(-(-value // 1)))  # a limit of 0.5 day still ends on a whole day
    if unit == "working_days":
        return cal.add_working_days(start, n)
    return cal.on_or_after(start + timedelta(days=n))
