"""The centre's configuration: pydantic models for config.yaml, loaded and validated once.

`load_config(path)` returns a frozen `Config`. A mistake raises `ConfigError` whose message
names the file, the key path (``services[1].series``), the line and what is allowed, so an
administrator can fix config.yaml without reading code. Relative paths are resolved
against the directory of the config file.
"""

from __future__ import annotations

import base64
import re
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from centre import boundedread
from centre.text import unshowable
from centre.yamlfile import YamlError, dotted, line_of, load_with_lines

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.yaml"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
#: a counter named by its number, bare or after the word "Quầy" / "Counter" ("2", "Quầy 2", "counter 2")
_COUNTER_NUMBER_RE = re.compile(r"(?:qu[aầ]y|counter)?\s*(\d+)", flags=re.IGNORECASE)


class ConfigError(ValueError):
    """config.yaml is missing, unreadable or holds a value that is not allowed."""


class _Model(BaseModel):
    # .inf and .nan are YAML numbers: a target wait of .inf or a waypoint at .nan passed the range
    # checks (or has none) and made the staff server's JSON answers 500 (not JSON numbers)
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Text(_Model):
    """A text in every citizen-facing language (Vietnamese first)."""

    vi: str = Field(min_length=1, description="Vietnamese text")
    en: str = Field(min_length=1, description="English text")

    @field_validator("vi", "en")
    @classmethod
    def _showable(cls, v: str) -> str:
        """A NUL, a newline or a bidi override went on to the hall display, the ticket print and
        the report CSV (the staff pages refuse them in names saved there: centre.text.unshowable)."""
        bad = unshowable(v)
        if bad:
            raise ValueError(f"holds a control or invisible character ({bad}) that a display or a ticket "
                             "cannot show; retype the text")
        return v

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.vi


class CentreSection(_Model):
    name: Text = Field(description="The centre's name shown on screen and on tickets")
    address: Text = Field(description="The centre's address")
    timezone: str = Field("Asia/Ho_Chi_Minh", description="IANA time zone of the centre (ticket days)")
    languages: list[Literal["vi", "en"]] = Field(["vi", "en"], min_length=1, description="Languages, default first")
    base_url: str = Field("http://127.0.0.1:8080", description="Staff server address as phones reach it (QR codes)")
    url: str | None = Field(None, description="Remote staff server for a kiosk without a local database")
    token: str | None = Field(None, description="API token of this kiosk on the remote staff server "
                              "(`kiosk users add NAME --role kiosk --token` on the server)")

    @field_validator("token")
    @classmethod
    def _token(cls, v: str | None) -> str | None:
        """A token pasted with a space, a line break or a quote inside: the kiosk sent it in its
        Authorization header, where httpx refuses it, and showed 'cannot reach the centre server'.
        (The message never repeats the token: it is a secret.)"""
        if v is not None and not re.fullmatch(r"[\x21-\x7e]{1,512}", v):
            raise ValueError("is not one API token: copy it again from `kiosk users token` (printable ASCII, no "
                             "spaces or line breaks, at most 512 characters)")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Asia/Ho_Chi_Minh") from exc
        return v

    @field_validator("base_url", "url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"{v!r} is not an http:// or https:// address")
        return v.rstrip("/") if v else v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class PathsSection(_Model):
    data_dir: Path = Field(Path("var"), description="Runtime files: database, caches, logs")
    database: Path = Field(Path("var/centre.db"), description="SQLite database file")
    catalogue: Path = Field(Path("data/procedures"), description="Catalogue source directory or file")
    holidays: Path = Field(Path("data/holidays.yaml"), description="Public holidays list")
    forms: Path = Field(Path("data/forms"), description="Official form files served at /forms/<file> (QR codes on the kiosk)")


HoursList = list[str]
#: Opening spans a day may have: a real day has one to three; every queue read (is it open now,
#: when does it open) goes through them all, and 63,000 spans (one 1 MB admin request) made each 5 s.
MAX_SPANS_PER_DAY = 8


def _check_hours(spans: list[str]) -> list[str]:
    if len(spans) > MAX_SPANS_PER_DAY:
        raise ValueError(f"a day has at most {MAX_SPANS_PER_DAY} opening spans, not {len(spans)}")
    for span in spans:
        m = _HOURS_RE.match(span)
        if not m:
            raise ValueError(f"{span!r} is not a time span like '07:30-11:30'")
        if (m.group(1), m.group(2)) >= (m.group(3), m.group(4)):
            raise ValueError(f"{span!r} ends before it starts")
    return spans


def _field_given_twice(cfg: Config) -> _KeyedError | None:
    """A catalogue field listed by two services: only the first would ever receive it (catalogue.service_for)."""
    owner: dict[str, str] = {}
    for i, s in enumerate(cfg.services):
        for j, f in enumerate(s.fields):
            if f in owner and owner[f] != s.series:
                return _KeyedError(("services", i, "fields", j),
                                   f"field {f!r} already goes to service {owner[f]} (listed there first), so "
                                   f"service {s.series} would never receive it; keep it in one service")
            owner.setdefault(f, s.series)
    return None


def _priority_key_given_twice(cfg: Config) -> _KeyedError | None:
    """Two priority groups with one key: the kiosk showed both buttons, tickets and reports could
    not tell them apart, and the staff pages changed only one of them."""
    keys = [g.key for g in cfg.priority_groups]
    for i, k in enumerate(keys):
        if k in keys[:i]:
            return _KeyedError(("priority_groups", i, "key"), f"priority group key {k!r} is used twice "
                               f"(also priority_groups[{keys.index(k)}]); give each group its own key")
    return None


def _overlapping_hours(cfg: Config) -> _KeyedError | None:
    """Two spans of one day that overlap in config.yaml (a typo, e.g. '11:00-17:00' for '13:00-17:00')."""
    places = [(("opening_hours",), cfg.opening_hours)] + [
        (("services", i, "opening_hours"), s.opening_hours) for i, s in enumerate(cfg.services) if s.opening_hours]
    for key, hours in places:
        for day in WEEKDAYS:
            ordered = sorted(getattr(hours, day))  # 'HH:MM-HH:MM' sorts by start time
            for a, b in zip(ordered, ordered[1:], strict=False):
                if b[:5] < a[6:]:
                    return _KeyedError((*key, day), f"{a!r} and {b!r} overlap; end the first before the second starts")
    return None


class OpeningHours(_Model):
    mon: HoursList = []
    tue: HoursList = []
    wed: HoursList = []
    thu: HoursList = []
    fri: HoursList = []
    sat: HoursList = []
    sun: HoursList = []

    _v = field_validator(*WEEKDAYS)(classmethod(lambda cls, v: _check_hours(v)))

    def spans(self, weekday: int) -> list[tuple[time, time]]:
        """Opening spans of a weekday (0 = Monday) as (start, end) times."""
        out = []
        for span in getattr(self, WEEKDAYS[weekday]):
            a, b = span.split("-")
            out.append((time.fromisoformat(a), time.fromisoformat(b)))
        return out


class Service(_Model):
    series: str = Field(pattern=r"^[A-Z]$", description="Ticket series letter, A-Z")
    name: Text
    fields: list[str] = Field([], description="Catalogue field ids received; empty = every field not taken")
    procedures: list[str] = Field([], description="Extra procedure codes received")
    target_wait_min: float = Field(15, gt=0, description="Target wait for the service level, minutes")
    default_service_min: float = Field(8, gt=0, description="Assumed service time before there is data")
    opening_hours: OpeningHours | None = Field(None, description="Overrides the centre's opening hours")


class Counter(_Model):
    id: int = Field(ge=1, le=99)
    name: Text
    services: list[str] = Field(min_length=1, description="Series letters this counter serves")
    waypoint: str = Field(description="Waypoint name the robot knows (floor_map.waypoints)")
    state: Literal["open", "paused", "closed"] = "open"


class Waypoint(_Model):
    x: float
    y: float
    name: Text | None = None


class FloorMap(_Model):
    image: Path = Path("assets/images/floor-map.png")
    width_m: float = Field(24.0, gt=0)
    height_m: float = Field(14.0, gt=0)
    waypoints: dict[str, Waypoint] = {}


class PriorityGroup(_Model):
    key: str = Field(pattern=r"^[a-z_]+$")
    name: Text


class QueueSection(_Model):
    max_number: int = Field(999, ge=9, le=999)
    overflow_series: dict[str, str] = {}
    service_time_window: int = Field(20, ge=1, le=1000)
    durable_commits: bool = Field(
        True, description="fsync every queue change (SQLite synchronous=FULL) so a power cut cannot undo a printed ticket"
    )
    no_show_after_recalls: int | None = Field(
        2, ge=0, le=20,
        description="'Next' on a called ticket that never started records it as no-show once it was recalled this "
                    "many times (before that the console asks); null: always ask")


class SearchSection(_Model):
    limit: int = Field(10, ge=1, le=100)
    min_score: float = Field(0.46, ge=0, le=1, description="Search score (0..1) below which the answer is no match")


class RobotEntry(_Model):
    name: str = Field(min_length=1)
    port: str = Field(description="pyserial URL or device path; 'sim' starts the simulator")
    baudrate: int = Field(115200, gt=0)
    dock: str = "dock"
    key: str | None = Field(None, min_length=16, max_length=64, pattern=r"^[\x20\x22\x23\x25-\x29\x2b\x2d-\x5b\x5d\x5f-\x7d]+$",
                            description="Shared key of the keyed handshake (docs/robot-protocol.md section 13); "
                            "required by robots on TCP; null: none")


class RobotSection(_Model):
    enabled: bool = True
    robots: list[RobotEntry] = []
    ack_timeout_s: float = Field(0.5, gt=0, le=10)
    retries: int = Field(3, ge=0, le=10)
    heartbeat_s: float = Field(1.0, gt=0, le=10)
    missed_heartbeats: int = Field(3, ge=1, le=20)
    reconnect_max_s: float = Field(5.0, gt=0, le=120)
    meet_waypoint: str | None = Field("kiosk", description="Where the robot meets the visitor (null: leave from where it is)")
    follow_pause_s: float = Field(2.0, ge=0, le=60, description="Pause at the meeting point so the visitor can get ready to follow")
    arrive_pause_s: float = Field(5.0, ge=0, le=300, description="Pause at the counter before the robot leaves")
    min_battery_pct: int = Field(20, ge=0, le=100, description="Below this battery level the robot is not offered to visitors")
    stall_s: float = Field(8.0, gt=0, le=120, description="No progress for this long on a goal: STALLED (map shown, staff told)")
    stall_give_up_s: float = Field(60.0, gt=0, le=600, description="Still no progress after this long: the escort ends with the map")
    map_version: str | None = Field(None, description="Version of the robot's map the floor map was drawn from; null: not checked")


class VoiceSection(_Model):
    enabled: bool = True
    engine: Literal["vietasr", "vosk"] = Field(
        "vietasr", description="vietasr: Vietnamese model inside the viet-asr wheel (nothing to install); "
        "vosk: the Vosk model at model_path (any language, `kiosk voice install-model`)")
    model_path: Path = Path("var/models/vosk-model-small-vn-0.4")
    language: str = "vi"
    sample_rate: int = Field(16000, ge=8000, le=48000)
    input_device: str | int | None = None
    use_grammar: bool = True
    snap_min_score: float = Field(0.6, ge=0, le=1)
    max_utterance_s: float = Field(8.0, gt=0, le=60)
    end_silence_s: float = Field(0.8, gt=0, le=10)


class SpeechSection(_Model):
    enabled: bool = True
    voice_vi: str = "vi"
    voice_en: str = "en"
    rate: int = Field(150, ge=60, le=400)
    volume: float = Field(1.0, ge=0, le=1)
    read_ticket_as: Literal["digits", "number"] = "digits"


class PrinterSection(_Model):
    kind: Literal["none", "usb", "serial", "network", "file", "dummy"] = "dummy"
    usb_vendor_id: int = 0x0416
    usb_product_id: int = 0x5011
    serial_port: str = "/dev/ttyS0"
    serial_baudrate: int = 9600
    host: str = "192.168.1.100"
    port: int = Field(9100, ge=1, le=65535)
    path: str = "/dev/usb/lp0"
    paper_width_px: int = Field(576, ge=200, le=1200)


#: scrypt parameters a staff PIN hash may carry: what centre.users writes (N=2**14, r=8, p=1) up to
#: a few times that; larger ones would cost every PIN try seconds of CPU or the 32 MB memory cap.
_SCRYPT_MAX_N, _SCRYPT_MAX_R, _SCRYPT_MAX_P = 2 ** 16, 16, 4


def _scrypt_hash_ok(v: str) -> bool:
    """Whether `v` is shaped like centre.users.hash_password's output, with sane parameters."""
    parts = v.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or not all(p.isascii() and p.isdigit() for p in parts[1:4]):
        return False
    n, r, p = (int(x) for x in parts[1:4])
    if not (2 <= n <= _SCRYPT_MAX_N and n & (n - 1) == 0 and 1 <= r <= _SCRYPT_MAX_R and 1 <= p <= _SCRYPT_MAX_P):
        return False
    try:
        salt, digest = (base64.b64decode(x, validate=True) for x in parts[4:])
    except ValueError:
        return False
    return len(salt) >= 8 and len(digest) >= 16


class KioskSection(_Model):
    orientation: Literal["landscape", "portrait"] = "landscape"
    fullscreen: bool = True
    #: seconds without a touch, key, speech or voice before the visit ends
    idle_timeout_s: float = Field(90, ge=30, le=3600)
    #: the "still there?" warning's length (WCAG 2.2.1: at least 20 s to respond), with a chime
    idle_warning_s: float = Field(30, ge=20, le=300)
    large_text_scale: float = Field(1.3, ge=1, le=3)
    staff_pin_hash: str | None = None
    pin_lockout_tries: int = Field(5, ge=1, le=50)
    #: first lockout after pin_lockout_tries wrong PINs; each further lockout doubles, up to pin_lockout_max_s
    pin_lockout_s: float = Field(300, ge=0)
    pin_lockout_max_s: float = Field(86400, ge=0)
    #: how often Home re-reads each service's state and wait, and the staff screen the devices
    home_refresh_s: float = Field(20, ge=2, le=600)
    status_refresh_s: float = Field(15, ge=2, le=600)
    #: live search while typing waits for this pause after the last key (the letter shows at once)
    search_pause_s: float = Field(0.25, ge=0, le=2)

    @field_validator("staff_pin_hash")
    @classmethod
    def _pin_hash(cls, v: str | None) -> str | None:
        """A hash `kiosk staff set-pin` could have written: anything else (a PIN typed in plain,
        a hash cut short) matched no PIN, locking the staff screen while `kiosk doctor` said 'set'."""
        if v is not None and not _scrypt_hash_ok(v):
            raise ValueError("is not a PIN hash written by `kiosk staff set-pin` (scrypt$N$r$p$salt$hash); "
                             "set it to null and run `kiosk staff set-pin` again")
        return v


class StaffSection(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    session_hours: float = Field(10, gt=0, le=168)
    login_max_tries: int = Field(5, ge=1, le=100)
    login_lockout_s: float = Field(300, ge=0)
    max_body_mb: float = Field(10, gt=0, le=500, description="Largest request body (JSON, form, upload) in MB; "
                                                            "larger ones get 413 before any login check")
    trusted_proxies: list[str] = Field([], description="Addresses of reverse proxies whose X-Forwarded-For is "
                                                       "believed (empty: the peer address is the client)")
    streams_staff: int = Field(300, ge=1, le=10000, description="Live streams reserved for displays and consoles")
    streams_public: int = Field(1500, ge=1, le=100000, description="Live streams of ticket status pages, all together")
    streams_per_client: int = Field(12, ge=1, le=100000, description="Public live streams from one client address")
    streams_per_ticket: int = Field(3, ge=1, le=100, description="Public live streams of one ticket token")


class DossiersSection(_Model):
    afternoon_cutoff: str = Field("15:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    due_soon_working_days: int = Field(2, ge=0, le=60)
    import_columns: dict[str, str] = {}
    online_values: list[str] = Field(
        ["trực tuyến", "online", "dịch vụ công", "dvc", "cổng", "toàn trình", "một phần"],
        description="Words of the export's channel column meaning 'submitted online' (folded, prefix match)")


class ProvinceSection(_Model):
    """Sync to the provincial hub (see docs/province.md); off while `url` is null."""

    url: str | None = Field(None, description="Hub address, e.g. http://hub.province.local:8090 (null: no sync)")
    centre_id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="This centre's id at the hub")
    token_file: str = Field("var/province.token", description="File holding this centre's hub token (mode 600)")
    batch_size: int = Field(1000, ge=1, le=20000, description="Outbox events sent per request")
    interval_s: float = Field(5.0, gt=0, le=3600, description="Pause between sends when the outbox is empty")
    max_backoff_s: float = Field(300.0, gt=0, le=86400, description="Longest wait after failures (doubling from 1 s)")
    timeout_s: float = Field(30.0, gt=0, le=600, description="HTTP timeout of one request")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        """An address the sync can POST to (a missing http:// failed at every send, as "unknown url type")."""
        if v is not None and not re.match(r"^https?://[^\s/?#@]+(/[^\s?#]*)?$", v):
            raise ValueError(f"{v!r} is not the hub's http:// or https:// address (e.g. http://hub.province.local:8090)")
        return v


class Config(_Model):
    centre: CentreSection
    paths: PathsSection = PathsSection()
    opening_hours: OpeningHours = OpeningHours()
    services: list[Service] = Field(min_length=1)
    counters: list[Counter] = Field(min_length=1)
    floor_map: FloorMap = FloorMap()
    priority_groups: list[PriorityGroup] = []
    queue: QueueSection = QueueSection()
    search: SearchSection = SearchSection()
    robot: RobotSection = RobotSection()
    voice: VoiceSection = VoiceSection()
    speech: SpeechSection = SpeechSection()
    printer: PrinterSection = PrinterSection()
    kiosk: KioskSection = KioskSection()
    staff: StaffSection = StaffSection()
    dossiers: DossiersSection = DossiersSection()
    province: ProvinceSection = ProvinceSection()
    #: Directory of the config file; relative paths are resolved against it.
    base_dir: Path = Field(PROJECT_ROOT, exclude=True)
    #: The file this was loaded from (None when built in code).
    source: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        series = [s.series for s in self.services]
        for i, s in enumerate(series):
            if s in series[:i]:  # name the second one: its key and line
                raise _KeyedError(("services", i, "series"), f"series letter {s!r} is used twice "
                                  f"(also services[{series.index(s)}]); give each service its own letter")
        ids = [c.id for c in self.counters]
        for i, c_id in enumerate(ids):
            if c_id in ids[:i]:
                raise _KeyedError(("counters", i, "id"), f"counter id {c_id} is used twice "
                                  f"(also counters[{ids.index(c_id)}]); give each counter its own number")
        for i, c in enumerate(self.counters):
            for s in c.services:
                if s not in series:
                    raise _KeyedError(("counters", i, "services"), f"service {s!r} is not defined in services (have {', '.join(series)})")
            if self.floor_map.waypoints and c.waypoint not in self.floor_map.waypoints:
                raise _KeyedError(("counters", i, "waypoint"), f"waypoint {c.waypoint!r} is not in floor_map.waypoints")
        served = {s for c in self.counters for s in c.services}
        for i, s in enumerate(self.services):
            if s.series not in served:
                raise _KeyedError(("services", i, "series"), f"no counter serves service {s.series!r}")
        for src, dst in self.queue.overflow_series.items():
            if src not in series:
                raise _KeyedError(("queue", "overflow_series"), f"{src!r} is not a service series")
            if not re.match(r"^[A-Z]$", dst) or dst in series:
                raise _KeyedError(("queue", "overflow_series"), f"overflow letter {dst!r} must be a free letter A-Z")
        problem = _overlapping_hours(self) or _field_given_twice(self) or _priority_key_given_twice(self)
        if problem:
            raise problem
        return self

    # -- convenience -------------------------------------------------------------
    def path(self, p: Path | str) -> Path:
        """Resolve a configured path against the config file's directory."""
        p = Path(p)
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def database_path(self) -> Path:
        return self.path(self.paths.database)

    @property
    def data_dir(self) -> Path:
        return self.path(self.paths.data_dir)

    def service(self, series: str) -> Service:
        for s in self.services:
            if s.series == series:
                return s
        raise KeyError(series)

    def counter(self, counter_id: int) -> Counter:
        for c in self.counters:
            if c.id == counter_id:
                return c
        raise KeyError(counter_id)

    def find_counter(self, text: str) -> Counter | None:
        """The configured counter a text names (a dossier's counter field): its number ("2"), or its
        name in either language ("Quầy 2", as the one-stop system writes it); None when it names none.
        An English visitor read "Please bring the documents below to Quầy 2." for the kiosk's "Counter 2"."""
        text = " ".join(str(text or "").split())
        number = _COUNTER_NUMBER_RE.fullmatch(text)
        if number:
            try:
                return self.counter(int(number.group(1)))
            except (KeyError, ValueError):
                return None
        folded = text.casefold()
        if not folded:
            return None
        for counter in self.counters:
            if folded in (str(counter.name.get(lang) or "").casefold() for lang in ("vi", "en")):
                return counter
        return None


class _KeyedError(ValueError):
    """A cross-field error that knows which key it concerns."""

    def __init__(self, loc: tuple, msg: str):
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


# -- loading with line numbers ---------------------------------------------------------


#: plain-word advice for the YAML mistakes an administrator makes by hand (tab, indentation, ': ' in a text)
_YAML_HINTS = (
    ("'\\t'", "indent with spaces, not tabs"),
    ("mapping values are not allowed", "a text containing ': ' must be put in quotes, e.g. name: \"Phường: Mông Dương\"; "
                                       "or the key above has a value and also indented lines under it"),
    ("found '<scalar>'", "a text in quotes that starts on a line above may not be closed (\"...\"), "
                         "or this line is not indented like its neighbours"),
    ("expected ',' or ']'", "a list [...] on this line or the one above lacks its closing ']' or a comma between items"),
    ("expected <block end>", "check the indentation of this line and the lines above it: keys of one "
                             "section start in the same column, in steps of two spaces"),
    ("could not find expected ':'", "a key needs ': ' after it, or the line above is not indented like its neighbours"),
    ("found unexpected end of stream", "a quote or bracket opened on this line or above is not closed"),
)


#: pydantic's wording of a wrong type → the administrator's (the value as written, and what to write)
_PLAIN_TYPE_ERRORS = {
    "missing": "missing: add this key (the shipped config.yaml shows it)",
    "list_type": "{value!r} should be a list, written like [a, b] (or [] for none)",
    "int_parsing": "{value!r} is not a whole number; write digits only, without quotes or units",
    "int_type": "{value!r} is not a whole number; write digits only, without quotes or units",
    "int_from_float": "{value!r} is not a whole number; write digits only, without quotes or units",
    "float_parsing": "{value!r} is not a number; write e.g. 90 or 0.5, without units",
    "float_type": "{value!r} is not a number; write e.g. 90 or 0.5, without units",
    "finite_number": "{value!r} is not a finite number; write e.g. 90 or 0.5 (.inf and .nan are not allowed)",
    "bool_parsing": "{value!r} is not true or false",
    "bool_type": "{value!r} is not true or false",
    "string_type": "{value!r} should be a text; put it in quotes",
    "greater_than_equal": "{value!r} is too small: at least {ge}",
    "less_than_equal": "{value!r} is too large: at most {le}",
    "greater_than": "{value!r} is too small: more than {gt}",
    "less_than": "{value!r} is too large: less than {lt}",
    "too_short": "needs at least {min_length} item(s)",
    "string_pattern_mismatch": "{value!r} is not written as expected (the pattern is {pattern})",
}


def _yaml_hint(message: str) -> str:
    return next((f" — {hint}" for needle, hint in _YAML_HINTS if needle in message), "")


def parse_config(text: str, *, base_dir: Path = PROJECT_ROOT, source: Path | None = None) -> Config:
    """Validate config text; raise ConfigError naming file, key, line and what is allowed."""
    where = str(source) if source else "config"
    try:
        data, lines = load_with_lines(text)
    except YamlError as exc:
        line = f" line {exc.line}:" if exc.line else ""
        raise ConfigError(f"{where}:{line} {exc.message}{_yaml_hint(exc.message)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the file must be a mapping of sections (centre:, services:, ...)")
    try:
        cfg = Config.model_validate({**data, "base_dir": base_dir, "source": source})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            ctx_err = (err.get("ctx") or {}).get("error")
            if isinstance(ctx_err, _KeyedError):
                loc, msg = ctx_err.loc, ctx_err.msg
            else:
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = "unknown key (misspelt?)"
                elif err["type"] == "literal_error":
                    msg = f"not allowed; {msg[0].lower()}{msg[1:]}"
                elif err["type"] in _PLAIN_TYPE_ERRORS:
                    msg = _PLAIN_TYPE_ERRORS[err["type"]].format(value=err.get("input"), **(err.get("ctx") or {}))
            line = line_of(data, lines, loc)
            at = f" (line {line})" if line else ""
            problems.append(f"{where}: {dotted(loc) or '(top level)'}{at}: {msg}")
        raise ConfigError("\n".join(problems)) from None
    return cfg


#: config.yaml is ~10 KB; a file past this is not a config (or /dev/zero): refused before it is read
MAX_CONFIG_BYTES = 1024 * 1024


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate config.yaml (default: the project's own)."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        text = boundedread.read_text(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except boundedread.TextFileError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, base_dir=path.resolve().parent, source=path)
