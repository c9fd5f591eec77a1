"""One visitor's visit: the screens, the escort states and everything the visitor did (no Kivy)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Screen(StrEnum):
    HOME = "home"
    FIELDS = "fields"
    PROCEDURES = "procedures"
    DETAIL = "detail"
    SEARCH = "search"
    SERVICE = "service"      # which service to take a ticket for
    PRIORITY = "priority"    # kept for old links: the priority choice is a button now
    TICKET = "ticket"        # the issued ticket
    DIRECTIONS = "directions"  # floor map + robot escort status
    PIN = "pin"
    STAFF = "staff"
    DOSSIER = "dossier"      # dossier lookup


class EscortState(StrEnum):
    NONE = "none"
    REQUESTED = "requested"
    COMING = "coming"
    GUIDING = "guiding"
    ARRIVED = "arrived"
    FALLBACK = "fallback"    # the robot cannot help: follow the map
    CANCELLED = "cancelled"


@dataclass
class Visit:
    """Everything one visitor did; replaced by a fresh one at idle timeout or 'start over'."""

    lang: str = "vi"
    large_text: bool = False
    #: a random id of this visit: tickets are issued with an idempotency key made from it, so
    #: going back from a ticket and tapping again gives the same ticket, never a second one
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    field_id: str | None = None
    field_name: dict | None = None
    procedures: list[dict] = field(default_factory=list)
    procedures_loading: bool = False
    procedure: dict | None = None
    section: str = ""             # the detail section a question asked about (documents, fee, time…)
    open_groups: set[str] = field(default_factory=set)   # expanded "Nếu…" groups and the legal basis
    checked_docs: set[int] = field(default_factory=set)
    query: str = ""
    results: list[dict] = field(default_factory=list)
    suggestions: list[dict] = field(default_factory=list)
    referral: dict | None = None  # where to go when nothing here matches
    see_also: dict | None = None  # results, and the request also names an office elsewhere ("ly hôn": the court)
    searching: bool = False
    series: str | None = None
    priority: str | None = None
    priority_open: bool = False   # the priority groups shown (after "Tôi thuộc diện ưu tiên")
    ticket: dict | None = None
    tickets: dict = field(default_factory=dict)   # series -> ticket issued in this visit
    print_status: str = ""        # "", issuing, printing, printed, failed
    escort: EscortState = EscortState.NONE
    escort_reason: str = ""       # i18n key of why the map is shown / what the robot does
    escort_detail: dict = field(default_factory=dict)
    escort_id: int | None = None
    destination: dict | None = None   # {counter, waypoint}
    voice_state: str = "idle"     # idle, listening, thinking
    voice_partial: str = ""       # words heard so far
    voice_candidates: list[str] = field(default_factory=list)
    voice_commands: dict[str, str] = field(default_factory=dict)  # a candidate's words → its command
    speaking: bool = False        # "Đọc to" is reading
    dossier_code: str = ""
    dossier: dict | None = None
    dossier_state: str = ""      # "", searching, found, not_found, failed
    history: list[Screen] = field(default_factory=list)

    def ticket_key(self, series: str) -> str:
        """The idempotency key of this visit's ticket for `series`."""
        return f"kiosk-{self.id}-{series}"
