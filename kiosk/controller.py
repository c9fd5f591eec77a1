"""The kiosk's visit state machine (no Kivy here), assembled from one module per part of a visit.

One `Controller` holds one visitor's visit: the screen shown, language, text size, the
procedure looked at, the search typed, the ticket taken, the robot escort, messages. The
Kivy screens only present it: they read controller attributes when told that a *topic*
changed and call controller methods when tapped (STYLE items 7–10).

    kiosk/flows/base.py      plumbing, navigation, idle timeout, language
    kiosk/flows/browse.py    fields, procedures, the detail page, search
    kiosk/flows/tickets.py   services' states, one ticket per service per visit, priority on request
    kiosk/flows/guide.py     floor-map route, robot escort (typed robot events, `match`)
    kiosk/flows/voice.py     hold-to-talk, read aloud (typed voice events, `match`)
    kiosk/flows/staff.py     PIN (centre/pin.py), counters, devices, re-import, test print
    kiosk/flows/dossier.py   dossier lookup
    kiosk/backend.py         catalogue, search, queue, printer, PIN behind one facade
    kiosk/devices.py         the robot adapter
    kiosk/texts.py, kiosk/floorplan.py, kiosk/visit.py, kiosk/palette.py

The names other code imports from here are re-exported.
"""

from __future__ import annotations

from centre.pin import PinFormatError, PinGate, PinResult, hash_pin, verify_pin
from kiosk.backend import Backend, BackendError
from kiosk.devices import ABORT_REASONS, RobotAdapter, robot_reason_key
from kiosk.floorplan import route
from kiosk.flows.browse import BrowseFlow
from kiosk.flows.dossier import DossierFlow
from kiosk.flows.guide import GuideFlow
from kiosk.flows.staff import StaffFlow
from kiosk.flows.tickets import TicketFlow
from kiosk.flows.voice import VoiceFlow
from kiosk.palette import contrast_ratio
from kiosk.texts import LANGS, I18n, I18nError
from kiosk.visit import EscortState, Screen, Visit

__all__ = ["ABORT_REASONS", "LANGS", "Backend", "BackendError", "Controller", "EscortState", "I18n", "I18nError",
           "PinFormatError", "PinGate", "PinResult", "RobotAdapter", "Screen", "Visit", "contrast_ratio",
           "hash_pin", "robot_reason_key", "route", "verify_pin"]


class Controller(BrowseFlow, TicketFlow, GuideFlow, VoiceFlow, StaffFlow, DossierFlow):
    """The visit state machine. Screens call its methods; it tells them which topics changed."""
