"""The kiosk ↔ guide-robot wire protocol, version 1: frames, checksum, messages. Pure: no I/O.

A frame is one NMEA-0183 proprietary sentence::

    $PXVK,<seq>,<TYPE>,<field>,...*HH\\r\\n

``XVK`` is our maker code, ``seq`` the sender's frame counter (0–999, wrapping), ``HH`` the
XOR of every byte between ``$`` and ``*`` in two upper-case hex digits; at most 82 bytes
with ``$`` and CR LF. docs/robot-protocol.md is the normative description; this module is
its executable form and is shared by the kiosk side (link.py) and the reference robot
(sim.py).

`StreamDecoder` is fed arbitrary byte chunks (split, merged, noisy, over-long) and returns
the frames it completes, counting what it drops by reason. It never raises.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum, StrEnum

MAKER = "XVK"
PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 82
SEQ_MODULO = 1000
MAX_COMMAND_ID = 99999

_TALKER = "P" + MAKER
# NMEA-0183 reserves $ * , ! \ ^ ~ and CR LF; fields are printable ASCII without them.
_FIELD_RE = re.compile(r"^[\x20-\x7e]*$")
_RESERVED = set("$*,!\\^~")
_TYPE_RE = re.compile(r"^[A-Z]{2,8}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


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


#: Commands the kiosk sends (each carries a command id as its first field).
COMMANDS = ("HELLO", "GOTO", "DOCK", "CANCEL", "STATQ", "SAY", "ESTOP", "RESET", "CHECK")
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
        return f"{value:.1f}"
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


def _enum(cls, text: str):
    try:
        return cls(text)
    except ValueError as exc:
        raise ProtocolError(f"{text!r} is not a {cls.__name__}") from exc


def _id(text: str) -> int:
    v = _num(text, int, "command id")
    if not 1 <= v <= MAX_COMMAND_ID:
        raise ProtocolError(f"command id {v} outside 1..{MAX_COMMAND_ID}")
    return v


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

    @classmethod
    def from_frame(cls, f: Frame) -> Command:
        if f.type not in COMMANDS:
            raise ProtocolError(f"unknown command {f.type}")
        if not f.fields:
            raise ProtocolError(f"{f.type} without a command id")
        return cls(f.type, _id(f.fields[0]), tuple(f.fields[1:]))


def goto(cmd_id: int, waypoint: str) -> Command:
    if not valid_token(waypoint):
        raise ProtocolError(f"waypoint name {waypoint!r}: use 1-16 of A-Z a-z 0-9 _ -")
    return Command("GOTO", cmd_id, (waypoint,))


def hello_command(cmd_id: int, kiosk_name: str = "KIOSK") -> Command:
    return Command("HELLO", cmd_id, (str(PROTOCOL_VERSION), kiosk_name))


@dataclass(frozen=True)
class Ack:
    """``ACK,<id>,<code>,<detail>``: detail is a Reason (DENIED, FAILED) or seconds (BUSY)."""

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
        return cls(_id(f.field(0)), _enum(AckCode, f.field(1)), f.field(2))


@dataclass(frozen=True)
class Heartbeat:
    """``HB,<state>,<battery %>,<goal id>,<goal status>,<reason>`` sent by the robot at 1 Hz.

    It carries the latest goal's status so a lost RESULT or ACK is recovered within a second.
    The kiosk's heartbeat is ``HB`` with no fields.
    """

    state: RobotState
    battery: int
    goal_id: int | None
    goal_status: GoalStatus
    reason: str = ""

    TYPE = "HB"

    def fields(self) -> tuple:
        return (self.state, self.battery, self.goal_id or "", self.goal_status, self.reason)

    @classmethod
    def from_frame(cls, f: Frame) -> Heartbeat:
        gid = f.field(2)
        return cls(
            _enum(RobotState, f.field(0)),
            _num(f.field(1), int, "battery"),
            _id(gid) if gid else None,
            _enum(GoalStatus, f.field(3, "NONE")),
            f.field(4),
        )


@dataclass(frozen=True)
class Status(Heartbeat):
    """``STATUS,<state>,<battery>,<goal id>,<goal status>,<reason>,<x m>,<y m>,<waypoint>,<estop 0/1>``."""

    x: float = 0.0
    y: float = 0.0
    waypoint: str = ""
    estop: bool = False

    TYPE = "STATUS"

    def fields(self) -> tuple:
        return (*super().fields(), self.x, self.y, self.waypoint, self.estop)

    @classmethod
    def from_frame(cls, f: Frame) -> Status:
        hb = Heartbeat.from_frame(f)
        return cls(
            hb.state, hb.battery, hb.goal_id, hb.goal_status, hb.reason,
            _num(f.field(5, "0")), _num(f.field(6, "0")), f.field(7), f.field(8) == "1",
        )


@dataclass(frozen=True)
class Feedback:
    """``FB,<goal id>,<distance m>,<eta s>`` at 1-2 Hz while a goal is active."""

    goal_id: int
    distance_m: float
    eta_s: float

    TYPE = "FB"

    def fields(self) -> tuple:
        return (self.goal_id, self.distance_m, self.eta_s)

    @classmethod
    def from_frame(cls, f: Frame) -> Feedback:
        return cls(_id(f.field(0)), _num(f.field(1)), _num(f.field(2)))


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
    """``HELLO,<protocol version>,<model>,<boot id>,<max speed m/s>`` from the robot."""

    version: int
    model: str
    boot_id: str
    speed_mps: float = 0.7

    TYPE = "HELLO"

    def fields(self) -> tuple:
        return (self.version, self.model, self.boot_id, self.speed_mps)

    @classmethod
    def from_frame(cls, f: Frame) -> Hello:
        return cls(_num(f.field(0), int, "version"), f.field(1), f.field(2), _num(f.field(3, "0.7")))


ROBOT_MESSAGES = {m.TYPE: m for m in (Ack, Heartbeat, Status, Feedback, Result, Hello)}


def parse_robot_message(f: Frame):
    """The typed message of a robot → kiosk frame; ProtocolError for an unknown or bad one."""
    cls = ROBOT_MESSAGES.get(f.type)
    if cls is None:
        raise ProtocolError(f"unknown robot message {f.type}")
    return cls.from_frame(f)


def message_fields(msg) -> tuple:
    """Fields of a robot message or a command, ready for `encode_frame`."""
    return msg.fields()


def message_type(msg) -> str:
    return msg.verb if isinstance(msg, Command) else msg.TYPE


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
