"""The kiosk ↔ guide-robot wire protocol, version 1.1: frames, checksum, messages. Pure: no I/O.

A frame is one NMEA-0183 proprietary sentence::

    $PXVK,<seq>,<TYPE>,<field>,...*HH\\r\\n

``XVK`` is our maker code, ``seq`` the sender's frame counter (0–999, wrapping), ``HH`` the
XOR of every byte between ``$`` and ``*`` in two upper-case hex digits; at most 82 bytes
with ``$`` and CR LF. docs/robot-protocol.md is the normative description; this module is
its executable form and is shared by the kiosk side (link.py) and the reference robot
(sim.py).

`StreamDecoder` is fed arbitrary byte chunks (split, merged, noisy, over-long) and returns
the frames it completes, counting what it drops by reason. It never raises.

Version 1.1 (docs/robot-protocol.md section 16) is read leniently, as its sections 4.3 and
4.4 require: an empty field is "no value" (``None``), a state, goal status or reason this
module does not know is kept verbatim as a plain ``str``, and a sentence type it does not
know becomes an `Unknown` message (a sign of life), never a dropped frame.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum, StrEnum

MAKER = "XVK"
PROTOCOL_VERSION = 1
PROTOCOL_MINOR = 1
#: Capabilities (HELLO, section 12.2): S SAY, W WPQ, V visitor tracking, C charging flag, R REBOOT, A keyed link.
CAPABILITIES = "SWVCRA"
WINDOW = 4  # outstanding commands (section 5.2)
MAX_FRAME_BYTES = 82
#: How a sender writes a number (section 2): digits, a '.' only between digits; a sign only on x, y.
NUMBER = re.compile(r"\d+(\.\d+)?")
SIGNED_NUMBER = re.compile(r"-?\d+(\.\d+)?")
#: Numeric fields of the robot's frames (0-based after TYPE): field -> may be negative.
NUMERIC_FIELDS = {"HB": {1: False}, "STATUS": {1: False, 5: True, 6: True, 9: False},
                  "FB": {1: False, 2: False}, "WP": {3: True, 4: True}, "HELLO": {3: False}}


def number_form_errors(frame: Frame) -> list[str]:
    """The numeric fields of a robot frame not written as section 2 says (empty fields are fine)."""
    bad = []
    for i, signed in NUMERIC_FIELDS.get(frame.type, {}).items():
        text = frame.field(i)
        if text and not (SIGNED_NUMBER if signed else NUMBER).fullmatch(text):
            bad.append(f"{frame.type} field {i + 1} {text!r}")
    return bad
SEQ_MODULO = 1000
MAX_COMMAND_ID = 99999

_TALKER = "P" + MAKER
# NMEA-0183 reserves $ * , ! \ ^ ~ and CR LF; fields are printable ASCII without them.
_FIELD_RE = re.compile(r"^[\x20-\x7e]*$")
_RESERVED = set("$*,!\\^~")
_TYPE_RE = re.compile(r"^[A-Z]{2,8}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_ID_RE = re.compile(r"^[1-9][0-9]{0,4}$")  # a command id as written: 1-99999, no leading zero, sign or space


class ProtocolError(ValueError):
    """A frame or message does not follow the protocol."""


class FrameError(ProtocolError):
    """Bytes that are not a valid frame; `reason` is one of the decoder's drop reasons."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# -- vocabulary --------------------------------------------------------------------------


class RobotState(StrEnum):
    """What the robot is doing, reported in every heartbeat."""

    BOOT = "BOOT"
    DOCKED = "DOCKED"
    IDLE = "IDLE"
    GUIDING = "GUIDING"
    ARRIVED = "ARRIVED"
    RETURNING = "RETURNING"
    DOCKING = "DOCKING"
    ESTOP = "ESTOP"
    FAULT = "FAULT"


class AckCode(StrEnum):
    """The robot's answer to a command id."""

    ACCEPTED = "ACCEPTED"
    BUSY = "BUSY"
    DENIED = "DENIED"
    UNSUPPORTED = "UNSUPPORTED"
    FAILED = "FAILED"


class GoalStatus(StrEnum):
    """State of a navigation goal (GOTO or DOCK), as in a ROS 2 Nav2 action."""

    NONE = "NONE"
    ACTIVE = "ACTIVE"
    SUCCEEDED = "SUCCEEDED"
    ABORTED = "ABORTED"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in (GoalStatus.SUCCEEDED, GoalStatus.ABORTED, GoalStatus.CANCELED)


class Reason(StrEnum):
    """Why a command was refused or a goal aborted."""

    NONE = ""
    UNKNOWN_WAYPOINT = "UNKNOWN_WAYPOINT"
    BLOCKED = "BLOCKED"
    TIMEOUT = "TIMEOUT"
    LOCALIZATION_LOST = "LOCALIZATION_LOST"
    LOW_BATTERY = "LOW_BATTERY"
    ESTOP_ACTIVE = "ESTOP_ACTIVE"
    FAILED_TO_DOCK = "FAILED_TO_DOCK"
    LINK_LOST = "LINK_LOST"
    BAD_ARGUMENT = "BAD_ARGUMENT"
    REBOOTED = "REBOOTED"
    VISITOR_LOST = "VISITOR_LOST"
    OBSTACLE = "OBSTACLE"
    REPLANNING = "REPLANNING"
    AUTH_REQUIRED = "AUTH_REQUIRED"
    AUTH_FAILED = "AUTH_FAILED"
    INTERNAL = "INTERNAL"


class Motion(StrEnum):
    """What the robot is doing about an active goal (FB, version 1.1)."""

    MOVING = "MOVING"
    WAITING = "WAITING"
    RECOVERING = "RECOVERING"


#: ACCEPTED notes (not reasons): CANCEL with nothing to cancel, RESET with nothing latched.
NO_GOAL = "NO_GOAL"
NOT_LATCHED = "NOT_LATCHED"


#: Commands the kiosk sends (each carries a command id as its first field).
COMMANDS = ("HELLO", "GOTO", "DOCK", "CANCEL", "STATQ", "SAY", "ESTOP", "RESET", "CHECK", "WPQ", "AUTH", "REBOOT")
#: Commands that start a navigation goal whose id is the command id.
GOAL_COMMANDS = ("GOTO", "DOCK")
#: Phrase codes for SAY (the robot plays its own recording, in Vietnamese or English).
PHRASES = ("FOLLOW_ME", "ARRIVED")


# -- frames ----------------------------------------------------------------------------


def checksum(body: str | bytes) -> int:
    """XOR of the bytes between ``$`` and ``*``."""
    data = body.encode("ascii") if isinstance(body, str) else body
    c = 0
    for b in data:
        c ^= b
    return c


@dataclass(frozen=True)
class Frame:
    """One decoded frame: the sender's sequence number, the message type and its fields."""

    seq: int
    type: str
    fields: tuple[str, ...] = ()

    def encode(self) -> bytes:
        return encode_frame(self.seq, self.type, *self.fields)

    def field(self, i: int, default: str = "") -> str:
        return self.fields[i] if i < len(self.fields) else default


def _check_field(value: str) -> None:
    if not _FIELD_RE.match(value) or _RESERVED & set(value):
        raise ProtocolError(f"field {value!r} holds a character NMEA-0183 reserves or non-ASCII")


def encode_frame(seq: int, type_: str, *fields: object) -> bytes:
    """Build the bytes of one frame; raise ProtocolError if it breaks a rule (chars, length)."""
    if not 0 <= seq < SEQ_MODULO:
        raise ProtocolError(f"seq {seq} outside 0..{SEQ_MODULO - 1}")
    if not _TYPE_RE.match(type_):
        raise ProtocolError(f"type {type_!r} must be 2-8 upper-case letters")
    texts = [_fmt(f) for f in fields]
    for t in texts:
        _check_field(t)
    body = ",".join([_TALKER, str(seq), type_, *texts])
    out = f"${body}*{checksum(body):02X}\r\n".encode("ascii")
    if len(out) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame is {len(out)} bytes, more than {MAX_FRAME_BYTES}")
    return out


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        text = f"{value:.1f}"
        return "0.0" if text == "-0.0" else text  # no negative zero (section 2, numbers)
    return str(value)


def decode_frame(line: bytes) -> Frame:
    """Parse one frame (with or without CR LF); raise FrameError naming the drop reason."""
    if len(line) > MAX_FRAME_BYTES:
        raise FrameError("too_long", f"{len(line)} bytes")
    line = line.rstrip(b"\r\n")
    if not line.startswith(b"$"):
        raise FrameError("malformed", "no $")
    star = line.rfind(b"*")
    if star < 0 or len(line) - star != 3:
        raise FrameError("malformed", "no *HH checksum")
    body = line[1:star]
    try:
        text = body.decode("ascii")
        want = int(line[star + 1 :].decode("ascii"), 16)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError("malformed", "non-ASCII or bad checksum digits") from exc
    if checksum(body) != want:
        raise FrameError("checksum", f"{checksum(body):02X} != {want:02X}")
    if not _FIELD_RE.match(text):
        raise FrameError("malformed", "control character")
    parts = text.split(",")
    if parts[0] != _TALKER:
        raise FrameError("foreign", parts[0][:8])
    if len(parts) < 3 or not parts[1].isdigit() or not _TYPE_RE.match(parts[2]):
        raise FrameError("malformed", "needs seq and type")
    seq = int(parts[1])
    if seq >= SEQ_MODULO:
        raise FrameError("malformed", "seq too large")
    return Frame(seq, parts[2], tuple(parts[3:]))


DROP_REASONS = ("checksum", "malformed", "too_long", "truncated", "foreign", "noise")


class StreamDecoder:
    """Turns a byte stream into frames, whatever the chunking; counts what it throws away.

    Drop reasons: ``checksum`` (bad XOR), ``malformed`` (not our frame shape), ``too_long``
    (no end within 82 bytes), ``truncated`` (a new ``$`` before the end of a frame),
    ``foreign`` (a valid sentence from another talker), ``noise`` (bytes outside any frame).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_frame = False
        self._skipping = False  # after an over-long frame, until the next $
        self.dropped: Counter[str] = Counter()
        self.frames = 0

    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        for b in data:
            if b == 0x24:  # '$' always starts a new frame
                if self._in_frame and self._buf:
                    self.dropped["truncated"] += 1
                self._buf = bytearray(b"$")
                self._in_frame = True
                self._skipping = False
                continue
            if not self._in_frame:
                if not self._skipping and b not in (0x0D, 0x0A):
                    self.dropped["noise"] += 1
                    self._skipping = True  # count a run of noise once
                continue
            if b == 0x0A:
                self._in_frame = False
                line = bytes(self._buf)
                self._buf = bytearray()
                try:
                    out.append(decode_frame(line))
                    self.frames += 1
                except FrameError as exc:
                    self.dropped[exc.reason] += 1
                continue
            self._buf.append(b)
            if len(self._buf) > MAX_FRAME_BYTES - 1:  # the LF still to come
                self.dropped["too_long"] += 1
                self._buf = bytearray()
                self._in_frame = False
                self._skipping = True
        return out

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class SeqTracker:
    """Counts frames lost in transit from gaps in the peer's sequence numbers."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.gaps = 0

    def see(self, seq: int) -> int:
        lost = 0
        if self.last is not None:
            lost = (seq - self.last - 1) % SEQ_MODULO
            if lost > SEQ_MODULO // 2:  # a reordering or a restart, not a loss
                lost = 0
        self.last = seq
        self.gaps += lost
        return lost


# -- messages ----------------------------------------------------------------------------


def _num(text: str, kind=float, what: str = "number"):
    try:
        return kind(text)
    except ValueError as exc:
        raise ProtocolError(f"{what} {text!r} is not a number") from exc


def _opt(text: str, kind=float, what: str = "number"):
    """An optional number: an empty field is None (section 4.3)."""
    return None if text == "" else _num(text, kind, what)


def _enum(cls, text: str):
    try:
        return cls(text)
    except ValueError as exc:
        raise ProtocolError(f"{text!r} is not a {cls.__name__}") from exc


def _word(cls, text: str, what: str):
    """A known word as its enum member, an unknown one kept verbatim (section 4.4); empty is an error."""
    if text == "":
        raise ProtocolError(f"empty {what}")
    try:
        return cls(text)
    except ValueError:
        return text


def known(value) -> bool:
    """True when a state / goal status / reason parsed into its enum (not kept as unknown text)."""
    return isinstance(value, Enum)


def valid_id(text: str) -> bool:
    """A command id field: 1-99999 in plain digits, no leading zero (section 2)."""
    return bool(_ID_RE.match(text)) and int(text) <= MAX_COMMAND_ID


def _id(text: str) -> int:
    if not valid_id(text):
        raise ProtocolError(f"command id {text!r} is not 1..{MAX_COMMAND_ID} without leading zeros")
    return int(text)


def valid_token(text: str) -> bool:
    """A waypoint name or phrase code: 1-16 of A-Z a-z 0-9 _ -."""
    return bool(_TOKEN_RE.match(text))


@dataclass(frozen=True)
class Command:
    """A kiosk → robot command: verb, command id and arguments."""

    verb: str
    cmd_id: int
    args: tuple[str, ...] = ()

    def fields(self) -> tuple[str, ...]:
        return (str(self.cmd_id), *self.args)

    def arg(self, i: int) -> str:
        return self.args[i] if i < len(self.args) else ""

    @classmethod
    def from_frame(cls, f: Frame) -> Command:
        if f.type not in COMMANDS:
            raise ProtocolError(f"unknown command {f.type}")
        if not f.fields:
            raise ProtocolError(f"{f.type} without a command id")
        return cls(f.type, _id(f.fields[0]), tuple(f.fields[1:]))


def goto(cmd_id: int, waypoint: str, lead: str | bool = "") -> Command:
    """GOTO; `lead` true when a visitor follows this leg (1.1: visitor watching on)."""
    if not valid_token(waypoint):
        raise ProtocolError(f"waypoint name {waypoint!r}: use 1-16 of A-Z a-z 0-9 _ -")
    lead = "1" if lead in (True, "1") else ""
    return Command("GOTO", cmd_id, (waypoint, lead) if lead else (waypoint,))


def hello_command(cmd_id: int, kiosk_name: str = "KIOSK", nonce: str = "") -> Command:
    return Command("HELLO", cmd_id, (str(PROTOCOL_VERSION), kiosk_name, str(PROTOCOL_MINOR), nonce))


@dataclass(frozen=True)
class Ack:
    """``ACK,<id>,<code>,<detail>``: detail is a Reason (DENIED, FAILED), seconds (BUSY) or a note.

    An unknown code is read as FAILED with the code as its detail (section 4.4).
    """

    cmd_id: int
    code: AckCode
    detail: str = ""
    #: True when inferred from a heartbeat naming the goal, not from an ACK frame.
    implicit: bool = False

    TYPE = "ACK"

    def fields(self) -> tuple:
        return (self.cmd_id, self.code, self.detail)

    @property
    def busy_s(self) -> float | None:
        if self.code is AckCode.BUSY:
            try:
                return float(self.detail)
            except ValueError:
                return None
        return None

    @classmethod
    def from_frame(cls, f: Frame) -> Ack:
        code = f.field(1)
        if code == "":
            raise ProtocolError("ACK without a code")
        try:
            return cls(_id(f.field(0)), AckCode(code), f.field(2))
        except ValueError:
            return cls(_id(f.field(0)), AckCode.FAILED, code)


@dataclass(frozen=True)
class Heartbeat:
    """``HB,<state>,<battery %>,<goal id>,<goal status>,<reason>,<boot id>,<charging>`` at 1 Hz.

    It carries the latest goal's status so a lost RESULT or ACK is recovered within a second,
    and (1.1) the boot id so a reboot is seen even when the robot's HELLO is lost. `state`,
    `goal_status` and `reason` are enum members when known, the text as sent otherwise.
    Empty fields are None (battery, boot id, charging). The kiosk's heartbeat is ``HB`` alone.
    """

    state: RobotState | str
    battery: int | None
    goal_id: int | None
    goal_status: GoalStatus | str
    reason: str = ""
    boot_id: str | None = field(default=None, kw_only=True)
    charging: bool | None = field(default=None, kw_only=True)

    TYPE = "HB"

    def fields(self) -> tuple:
        return (self.state, "" if self.battery is None else self.battery, self.goal_id or "", self.goal_status,
                self.reason, self.boot_id or "", "" if self.charging is None else self.charging)

    @classmethod
    def _common(cls, f: Frame) -> dict:
        gid = f.field(2)
        battery = _opt(f.field(1), float, "battery")
        return dict(
            state=_word(RobotState, f.field(0), "state"),
            battery=None if battery is None else round(battery),
            goal_id=_id(gid) if gid else None,
            goal_status=_word(GoalStatus, f.field(3) or "NONE", "goal status"),
            reason=f.field(4),
        )

    @classmethod
    def from_frame(cls, f: Frame) -> Heartbeat:
        charging = f.field(6)
        return cls(**cls._common(f), boot_id=f.field(5) or None,
                   charging=None if charging == "" else charging == "1")

    @property
    def goal_active(self) -> bool:
        return self.goal_status is GoalStatus.ACTIVE

    @property
    def goal_terminal(self) -> bool:
        return isinstance(self.goal_status, GoalStatus) and self.goal_status.terminal


@dataclass(frozen=True)
class Status(Heartbeat):
    """``STATUS,<state>,<battery>,<goal id>,<goal status>,<reason>,<x m>,<y m>,<waypoint>,<estop 0/1>,<heading>``.

    x and y are None when the robot is not localised; heading (degrees, counter-clockwise
    from the map's +x axis) None when unknown. STATUS carries no boot id or charging flag.
    """

    x: float | None = None
    y: float | None = None
    waypoint: str = ""
    estop: bool = False
    heading: float | None = None

    TYPE = "STATUS"

    def fields(self) -> tuple:
        base = super().fields()[:5]
        out = (*base, _pos(self.x), _pos(self.y), self.waypoint, self.estop,
               "" if self.heading is None else f"{self.heading:.0f}")
        return _fit_by_emptying("STATUS", out, STATUS_SHED)

    @classmethod
    def from_frame(cls, f: Frame) -> Status:
        x, y = _opt(f.field(5)), _opt(f.field(6))
        if x is None or y is None:
            x = y = None
        return cls(**cls._common(f), x=x, y=y, waypoint=f.field(7), estop=f.field(8) == "1",
                   heading=_opt(f.field(9)))

    @property
    def localised(self) -> bool:
        return self.x is not None


def _pos(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


# Section 4.5: the STATUS fields a too-long STATUS empties, in this order (heading, waypoint,
# reason); no field is left out, so the e-stop flag keeps its place.
STATUS_SHED = (9, 7, 4)


def _fit_by_emptying(type_: str, fields: tuple, order: tuple[int, ...]) -> tuple:
    """Empty the fields at `order`, one by one, until the frame fits 82 bytes (section 4.5)."""
    fields = list(fields)
    for index in (None, *order):
        if index is not None:
            fields[index] = ""
        try:
            encode_frame(999, type_, *fields)
            return tuple(fields)
        except ProtocolError:
            continue
    return tuple(fields)


@dataclass(frozen=True)
class Feedback:
    """``FB,<goal id>,<distance m>,<eta s>,<motion>,<why>`` at 1-2 Hz while a goal is active.

    distance and eta are None when not known; motion is MOVING when empty (1.0 senders).
    """

    goal_id: int
    distance_m: float | None
    eta_s: float | None
    motion: Motion | str = Motion.MOVING
    why: str = ""

    TYPE = "FB"

    def fields(self) -> tuple:
        return (self.goal_id, "" if self.distance_m is None else self.distance_m,
                "" if self.eta_s is None else self.eta_s, self.motion, self.why)

    @classmethod
    def from_frame(cls, f: Frame) -> Feedback:
        return cls(_id(f.field(0)), _opt(f.field(1)), _opt(f.field(2)),
                   _word(Motion, f.field(3) or "MOVING", "motion"), f.field(4))


@dataclass(frozen=True)
class Result:
    """``RESULT,<goal id>,<SUCCEEDED|ABORTED|CANCELED>,<reason>`` when a goal ends."""

    goal_id: int
    status: GoalStatus
    reason: str = ""

    TYPE = "RESULT"

    def fields(self) -> tuple:
        return (self.goal_id, self.status, self.reason)

    @classmethod
    def from_frame(cls, f: Frame) -> Result:
        status = _enum(GoalStatus, f.field(1))
        if not status.terminal:
            raise ProtocolError(f"RESULT with non-final status {status.value}")
        return cls(_id(f.field(0)), status, f.field(2))


@dataclass(frozen=True)
class Hello:
    """``HELLO,<version>,<model>,<boot id>,<max speed>,<minor>,<capabilities>,<map version>`` from the robot.

    A 1.0 robot sends only the first four fields: minor 0, capabilities "S", no map version.
    """

    version: int
    model: str
    boot_id: str
    speed_mps: float | None = 0.7
    minor: int = 0
    capabilities: str = "S"
    map_version: str = ""

    TYPE = "HELLO"

    def fields(self) -> tuple:
        return (self.version, self.model, self.boot_id, "" if self.speed_mps is None else self.speed_mps,
                self.minor, self.capabilities, self.map_version)

    def can(self, letter: str) -> bool:
        return letter in self.capabilities

    @classmethod
    def from_frame(cls, f: Frame) -> Hello:
        if not f.field(2):
            raise ProtocolError("HELLO without a boot id")
        minor = _opt(f.field(4), int, "minor version") or 0
        caps = f.field(5) if len(f.fields) > 5 and (minor or f.field(5)) else "S"
        return cls(_num(f.field(0), int, "version"), f.field(1), f.field(2), _opt(f.field(3)), minor,
                   caps, f.field(6))


@dataclass(frozen=True)
class Waypoint:
    """``WP,<index>,<count>,<name>,<x>,<y>``: one waypoint of the robot's map, answering WPQ (1.1)."""

    index: int
    count: int
    name: str
    x: float | None = None
    y: float | None = None

    TYPE = "WP"

    def fields(self) -> tuple:
        return (self.index, self.count, self.name, _pos(self.x), _pos(self.y))

    @classmethod
    def from_frame(cls, f: Frame) -> Waypoint:
        if not f.field(2):
            raise ProtocolError("WP without a name")
        return cls(_num(f.field(0), int, "index"), _num(f.field(1), int, "count"), f.field(2),
                    _opt(f.field(3)), _opt(f.field(4)))


@dataclass(frozen=True)
class Auth:
    """``AUTH,<robot nonce>,<mac>``: the robot's half of the keyed handshake (section 13)."""

    nonce: str
    mac: str

    TYPE = "AUTH"

    def fields(self) -> tuple:
        return (self.nonce, self.mac)

    @classmethod
    def from_frame(cls, f: Frame) -> Auth:
        if not f.field(0) or not f.field(1):
            raise ProtocolError("AUTH needs a nonce and a mac")
        return cls(f.field(0), f.field(1))


@dataclass(frozen=True)
class Unknown:
    """A well-formed frame of a type this version does not know: kept as a sign of life (4.4)."""

    type: str
    fields_: tuple[str, ...] = ()

    TYPE = ""

    def fields(self) -> tuple:
        return self.fields_


ROBOT_MESSAGES = {m.TYPE: m for m in (Ack, Heartbeat, Status, Feedback, Result, Hello, Waypoint, Auth)}


def parse_robot_message(f: Frame):
    """The typed message of a robot → kiosk frame; `Unknown` for a type this version does not know;
    ProtocolError for a known type with a field that must not be empty or is malformed."""
    cls = ROBOT_MESSAGES.get(f.type)
    if cls is None:
        return Unknown(f.type, f.fields)
    return cls.from_frame(f)


# -- keyed handshake (section 13) ----------------------------------------------------------


def _mac(key: str, text: str) -> str:
    return hmac.new(key.encode("ascii"), text.encode("ascii"), hashlib.sha256).hexdigest()[:16]


def robot_mac(key: str, kiosk_nonce: str, robot_nonce: str, boot_id: str) -> str:
    """The robot's proof: HMAC-SHA256(key, "XVK1|R|kn|rn|boot")[:16 hex]."""
    return _mac(key, f"XVK1|R|{kiosk_nonce}|{robot_nonce}|{boot_id}")


def kiosk_mac(key: str, kiosk_nonce: str, robot_nonce: str) -> str:
    """The kiosk's proof: HMAC-SHA256(key, "XVK1|K|kn|rn")[:16 hex]."""
    return _mac(key, f"XVK1|K|{kiosk_nonce}|{robot_nonce}")


def mac_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.lower().encode(), b.lower().encode())


def message_fields(msg) -> tuple:
    """Fields of a robot message or a command, ready for `encode_frame`."""
    return msg.fields()


def message_type(msg) -> str:
    if isinstance(msg, Command):
        return msg.verb
    return msg.type if isinstance(msg, Unknown) else msg.TYPE


@dataclass
class SeqCounter:
    """The sender's frame counter, 0..999 wrapping."""

    value: int = 0
    _sent: int = field(default=0, repr=False)

    def next(self) -> int:
        v = self.value
        self.value = (self.value + 1) % SEQ_MODULO
        self._sent += 1
        return v


class Encoder:
    """Encodes messages with a running sequence number (one per sender)."""

    def __init__(self) -> None:
        self.seq = SeqCounter()

    def frame(self, type_: str, *fields: object) -> bytes:
        data = encode_frame(self.seq.value, type_, *fields)  # raises before using up a number
        self.seq.next()
        return data

    def message(self, msg) -> bytes:
        return self.frame(message_type(msg), *message_fields(msg))
