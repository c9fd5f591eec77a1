"""What "Đọc to" (read aloud) says on each screen, written for listening (no Kivy here).

One small function per screen reads what the controller and the visit already hold and words
it with the i18n texts (`speak.*` and the screens' own keys), in the visitor's language:
short (at most `MAX_WORDS` words *as heard*: numbers, dates and times counted after the
normaliser the Speaker uses, `voice.speech.to_speech` — vietnormalizer for Vietnamese), the
names on screen briefly (lists are cut, "N more on the screen"), never a business rule of its
own (the service lines are `service_line`, the wait is `centre.tickets.wait_text` as the queue
gave it) and never the applicant's personal data (a dossier is read by its state, next step,
counter, missing documents and due date: not the masked name, not the code).

    text = screen_text(controller)   # "" when the screen has nothing to read
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable

from kiosk.visit import EscortState, Screen

MAX_WORDS = 60
#: at most this many names of a list are read (the rest: "N more on the screen")
MAX_NAMES = 5
#: of a list of procedures (long names), the first three
MAX_PROCEDURES = 3
EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December")


# -- wording shared with the screens -----------------------------------------------------------

def service_line(tr, st: dict, lang: str) -> str:
    """One line saying whether a service takes tickets now, and the wait (the queue's forecast).
    The Home and service screens show it; "Đọc to" reads it."""
    state = st.get("state")
    if state == "closed":
        if st.get("opens_time"):
            return tr("service.closed_until", time=st["opens_time"], date=st.get("opens_date", ""))
        return tr("service.closed")
    if state == "no_counter":
        return tr("service.no_counter")
    wait = st.get(f"wait_text_{lang}") or st.get("wait_text_vi", "")
    if state == "open" and not st.get("waiting"):
        return tr("service.none_waiting")
    key = "service.paused" if state == "paused" else "service.open"
    return tr(key, waiting=st.get("waiting", 0), wait=wait)


# -- counting and fitting ----------------------------------------------------------------------

def heard(text: str, lang: str = "vi") -> str:
    """`text` as the Speaker synthesises it (the same normaliser)."""
    from voice.speech import to_speech

    return to_speech(text, lang)


def heard_words(text: str, lang: str = "vi") -> int:
    """Words a listener hears ("15" is two words in Vietnamese: "mười lăm")."""
    return len(heard(text, lang).split())


def fit(c, build: Callable[[list[str], int], str], items: list[str], most: int = MAX_NAMES) -> str:
    """`build(shown, left)` with as many of `items` as keep it ≤ MAX_WORDS heard words (the first
    `most` at most); `left` is how many were left out ("N more on the screen")."""
    lang = c.visit.lang
    for k in range(min(len(items), most), -1, -1):
        text = build(items[:k], len(items) - k)
        if heard_words(text, lang) <= MAX_WORDS:
            return text
    words = text.split()[:MAX_WORDS]  # the fixed parts alone are too long (a long referral): cut as heard
    while words and heard_words(" ".join(words), lang) > MAX_WORDS:
        words.pop()
    return " ".join(words)


def _more(c, left: int) -> str:
    return c.t("speak.more", n=left) if left else ""


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def _sentence(text: str) -> str:
    """A screen line read as a sentence: its separators as pauses, a full stop at the end."""
    text = " ".join(str(text).replace(" · ", ", ").replace("·", ",").split()).rstrip(" .:")
    # a line that ends in "!" or "?" is a sentence already ("…thuận lợi!." was read)
    return text + "." if text and text[-1] not in "!?" else text


def _names(names: list[str]) -> str:
    """Names read one after the other: "; " (a pause) between them, as many contain commas themselves."""
    return "; ".join(n for n in names if n)


#: English words a phrase of a procedure's name starts with: a name cut short is cut before one
#: (STRONG first; the last OF_PHRASE only when the strong cut would leave fewer than EN_KEEP words)
EN_STRONG = frozenset("or and where who which for with in by before after used settled registered granted "
                      "issued whose to".split())
EN_OF_PHRASE = frozenset({"of"})
EN_KEEP = 8


def _short(name: str, lang: str = "vi") -> str:
    """A procedure's name for listening (`centre.aloud.short_name`); one cut short ends at a comma,
    or in English before the phrase the cut fell in ("… civil status extract", not "… or a copy of a")."""
    from centre.aloud import short_name

    full = " ".join((name or "").split())
    short = short_name(full)
    whole = re.sub(r"\([^)]*\)", " ", full).split()  # the name without its parentheses
    if lang == "en" and len(short.split()) < len(whole):  # cut at a word count, maybe mid-phrase
        return _en_phrase_cut(short)
    if short != full and len(short.split()) >= 12 and "," in short:
        short = short.rsplit(",", 1)[0]
    return short


def _en_phrase_cut(short: str) -> str:
    """`short` (an English name cut at a word count) cut again before its last whole phrase."""
    words = short.split()

    def cuts(vocab):
        return [i for i in range(4, len(words)) if words[i].lower() in vocab or words[i - 1].endswith(",")]

    strong = cuts(EN_STRONG)
    best = max(strong, default=0)
    if best < EN_KEEP:
        best = max([best, *cuts(EN_OF_PHRASE)])
    if not best:
        return short
    kept = words[:best]
    while len(kept) > 1 and kept[-1].rstrip(",;").lower() in EN_STRONG | EN_OF_PHRASE | {"a", "an", "the"}:
        kept.pop()  # "… the State or the community, or" → "… the State or the community"
    return " ".join(kept).rstrip(",;")


def _listening_date(c, ddmm: str) -> str:
    """'25/11' or '25/11/2026' as the visitor's language says it ('25 November' in English;
    the Vietnamese normaliser reads the digits itself)."""
    if c.visit.lang != "en" or "/" not in ddmm:
        return ddmm
    parts = ddmm.split("/")
    try:
        day, month = int(parts[0]), int(parts[1])
        return " ".join([str(day), EN_MONTHS[month - 1], *parts[2:3]])
    except (ValueError, IndexError):
        return ddmm


def _listening_time(c, hhmm: str) -> str:
    """'07:30' → '7:30' in English (espeak then says "seven thirty"); Vietnamese keeps it for the normaliser."""
    if c.visit.lang == "en" and len(hhmm) == 5 and hhmm[2] == ":":
        return hhmm.lstrip("0") if not hhmm.startswith("00") else hhmm
    return hhmm


def _spoken_state(c, st: dict) -> str:
    """A service's state line, its time and date worded for listening."""
    st = dict(st)
    if st.get("opens_time"):
        st["opens_time"] = _listening_time(c, st["opens_time"])
        st["opens_date"] = _listening_date(c, st.get("opens_date", ""))
    return _sentence(service_line(c.t, st, c.visit.lang)).rstrip(".")


def brief(name: str) -> str:
    """A service's name briefly, for listening: its first part ("Hộ tịch, chứng thực" → "Hộ tịch")."""
    return name.split(",", 1)[0].strip() or name


def _services(c) -> list[str]:
    """Each service's state and wait (the lines Home and the service list show), one sentence per
    state: services in the same state are named together, briefly ("Hộ tịch; Cư trú: open, nobody
    waiting"), so four services fit in the time a listener follows."""
    groups: dict[str, list[str]] = {}
    for svc in c.cfg.services:
        st = c.service_state(svc.series)
        if st:
            groups.setdefault(_spoken_state(c, st), []).append(brief(svc.name.get(c.visit.lang)))
    return [c.t("speak.service", name=_names(names), state=state) for state, names in groups.items()]


# -- one function per screen -------------------------------------------------------------------

def home(c) -> str:
    """What this kiosk can do, then each service's state (open / wait / closed until)."""
    actions = ["home.lookup", "home.ticket"] + (["home.dossier"] if c.has_dossiers else []) + ["home.directions"]
    intro = c.t("speak.home", actions=_names([c.t(k) for k in actions]))
    say = say_hint(c)  # kept whole: the services are cut to make room for it
    return fit(c, lambda shown, left: _join(intro, *shown, _more(c, left), say), _services(c))


def fields(c) -> str:
    if not c.fields:
        return c.t("fields.loading")
    names = [c.name_of(f) for f in c.fields]
    return fit(c, lambda shown, left: _join(c.t("speak.fields", count=len(names), names=_names(shown)),
                                             _more(c, left), c.t("speak.touch")), names)


def procedures(c) -> str:
    v = c.visit
    if not v.procedures:
        return c.t("procedures.loading" if v.procedures_loading else "procedures.empty")
    field = c.name_of(v.field_name) if v.field_name else ""
    names = [_short(c.name_of(p), c.visit.lang) for p in v.procedures]
    return fit(c, lambda shown, left: _join(
        c.t("speak.procedures", field=field, count=len(names), names=_names(shown)),
        _more(c, left), c.t("speak.touch")), names, MAX_PROCEDURES)


def detail(c) -> str:
    """The procedure's summary (`centre.aloud.procedure_summary`, made with the detail page in
    the language it was opened in: `screen_lang` says which)."""
    p = c.visit.procedure
    return (p or {}).get("aloud") or ""


def search(c) -> str:
    """Results (how many, the first names), "no match" (where to go instead), or what to do."""
    v = c.visit
    if v.voice_candidates:
        return fit(c, lambda shown, left: _join(c.t("voice.not_understood"), _names(shown)),
                   list(v.voice_candidates))
    if not v.query.strip():
        hold = c.t("voice.hold") if v.lang == "vi" and c.voice_ready else ""
        return _join(_sentence(c.t("search.hint")), _sentence(hold))
    if v.searching:
        return c.t("search.searching")
    if v.results:
        names = [_short(c.name_of(h), c.visit.lang) for h in v.results]
        also = _see_also(c)
        return fit(c, lambda shown, left: _join(
            c.t("speak.results", count=len(names), names=_names(shown)), _more(c, left), also,
            c.t("speak.touch")), names, MAX_PROCEDURES)
    return no_match(c)


def _referral(c) -> str:
    ref = c.visit.referral or {}
    lang = c.visit.lang
    office = ref.get(f"office_{lang}") or ref.get("office_vi") or ref.get("office")
    if not office:
        return ""
    advice = ref.get(f"advice_{lang}") or ref.get("advice_vi") or ref.get("advice") or ""
    return _sentence(c.t("search.referral", office=office, advice=advice))


def _see_also(c) -> str:
    """The search's "see also: where to go" line beside results (the browse flow's `see_also_text`,
    when this kiosk has it: the request also names something handled elsewhere), or ""."""
    fn = getattr(c, "see_also_text", None)
    return _sentence(fn()) if callable(fn) and c.visit.results else ""


def no_match(c) -> str:
    """Nothing here: the referral office and its advice, the nearest fields, the help desk."""
    v = c.visit
    fixed = [_sentence(c.t("search.no_match")), _referral(c)]
    fields_ = [c.name_of(s) for s in v.suggestions[:3]]

    def build(shown, left):
        near = c.t("speak.suggest", names=_names(shown)) if shown else ""
        return _join(*fixed, near, c.t("speak.ask_staff"))

    return fit(c, build, fields_)


def service(c) -> str:
    """Which services are open, and the wait (the same lines as the buttons)."""
    return fit(c, lambda shown, left: _join(c.t("speak.services"), *shown, _more(c, left),
                                             c.t("speak.touch_service")), _services(c))


def priority(c) -> str:
    names = [g.name.get(c.visit.lang) for g in c.cfg.priority_groups]
    return fit(c, lambda shown, left: _join(_sentence(c.t("priority.title")) + " " + _names(shown) + ".",
                                             _more(c, left), _sentence(c.t("priority.hint")), c.t("speak.touch")), names)


def ticket(c) -> str:
    v = c.visit
    tk = v.ticket
    if not tk:
        return c.t("ticket.issuing") if v.print_status == "issuing" else ""
    wait = tk.get(f"wait_text_{v.lang}") or tk.get("wait_text_vi", "")
    key = "speak.ticket" if tk.get("ahead") else "speak.ticket_next"  # "0 người chờ trước" is no sentence
    said = c.t(key, number=tk["number"], counter=c.counter_names(tk), ahead=tk.get("ahead", 0), wait=wait)
    if v.print_status == "failed":  # a visitor who cannot read would wait at the slot for a ticket
        said = _join(said, c.t("speak.print_failed", number=tk["number"]))
    elif v.print_status == "screen_only":  # and at a kiosk with no printer, for one never printed
        said = _join(said, c.t("speak.screen_only", number=tk["number"]))
    return said


def _metres(c) -> int:
    """The route's length in metres (the floor map's waypoints are in metres)."""
    pts = c.route_points()
    return int(round(sum(math.dist(a, b) for a, b in itertools.pairwise(pts))))


def directions(c) -> str:
    """Which counter and how far along the route, and the robot's state; or the places to choose from."""
    v = c.visit
    if v.destination:
        det = v.escort_detail
        kw = {"distance": int(round(float(det.get("distance_m") or 0))), "minutes": det.get("minutes", 1)}
        robot = c.t(v.escort_reason, **kw) if v.escort_reason else c.t("robot.absent")
        if v.escort in (EscortState.GUIDING, EscortState.ARRIVED):
            # the visitor has left the kiosk behind the robot: the route's metres from the kiosk
            # ("about 12 metres") beside the robot's own ("about 9 m to go") only confused
            return _sentence(robot)
        metres = _metres(c)
        where = (c.t("speak.route", place=c.destination_name(), metres=metres) if metres
                 else _sentence(c.t("directions.route_to", place=c.destination_name())))
        offer = c.t("speak.robot_offer") if c.escort_mgr is not None and v.escort in (
            EscortState.NONE, EscortState.CANCELLED) else ""
        return _join(where, _sentence(robot), offer)
    names = [p["name"] for p in c.places()]
    return fit(c, lambda shown, left: _join(c.t("directions.choose"), _names(shown) + ".", _more(c, left),
                                             c.t("speak.touch")), names)


def dossier(c) -> str:
    """A found dossier: state, what to do next at which counter, missing documents, the due date."""
    v = c.visit
    st = v.dossier_state
    if st in ("searching", "not_found", "failed", "ambiguous"):
        return c.t(f"dossier.{st}")
    d = v.dossier
    if st != "found" or not d:
        return c.t("speak.dossier_hint")
    head = [_sentence(c.t(f"dossier.state_{d['state']}")),
            _sentence(c.t(f"dossier.next_{d['next_action']}", counter=dossier_counter(c, d)))]
    if d.get("late"):
        head.append(c.t("dossier.late"))
    due = c.t("speak.due", date=_listening_date(c, dmy(d["due_on"]))) if d.get("due_on") else ""
    missing = [str(m) for m in d.get("missing_documents") or []]
    if missing and v.lang != "vi":
        # the documents' names are Vietnamese: the English voice would mangle them, so the count
        # is said and the screen (which marks them "in Vietnamese") shows the names
        return _join(*head, c.t("speak.missing_count", count=len(missing)), due)

    def build(shown, left):
        docs = _sentence(c.t("dossier.missing") + " " + _names(shown)) if shown else ""
        return _join(*head, docs, _more(c, left), due)

    return fit(c, build, missing)


def dossier_counter(c, d: dict) -> str:
    """The counter a dossier's next step happens at, by name (the dossier screen shows the same)."""
    cid = d.get("counter")
    if not cid:
        return c.t("dossier.counter_any")
    counter = c.cfg.find_counter(str(cid))
    return counter.name.get(c.visit.lang) if counter is not None else str(cid)


def dmy(iso: str | None) -> str:
    """'2026-02-20' → '20/02/2026' (as the dossier screen shows a date)."""
    return f"{iso[8:10]}/{iso[5:7]}/{iso[0:4]}" if iso and len(iso) >= 10 else (iso or "")


BY_SCREEN: dict[Screen, Callable] = {
    Screen.HOME: home, Screen.FIELDS: fields, Screen.PROCEDURES: procedures, Screen.DETAIL: detail,
    Screen.SEARCH: search, Screen.SERVICE: service, Screen.PRIORITY: priority, Screen.TICKET: ticket,
    Screen.DIRECTIONS: directions, Screen.DOSSIER: dossier,
}


#: what can be said on each screen (`voice.say_*`), when the microphone is there: a citizen
#: who cannot read learns it by ear (round 12: only the empty search screen said it)
SAY = {Screen.HOME: "voice.say_home", Screen.DETAIL: "voice.say_detail", Screen.TICKET: "voice.say_ticket",
       Screen.FIELDS: "voice.say_screen", Screen.PROCEDURES: "voice.say_screen", Screen.SERVICE: "voice.say_screen",
       Screen.PRIORITY: "voice.say_screen", Screen.DIRECTIONS: "voice.say_screen"}


def say_hint(c) -> str:
    """What the visitor can say here, or "" (voice input not ready, or not Vietnamese: it hears
    Vietnamese only)."""
    key = SAY.get(c.screen)
    if not key or c.visit.lang != "vi" or not getattr(c, "voice_ready", False):
        return ""
    return c.t(key)


def screen_text(c) -> str:
    """What "Đọc to" says on the screen shown ("" on the staff screens), and what can be said
    there when it fits (Home makes room for it)."""
    fn = BY_SCREEN.get(c.screen)
    if not fn:
        return ""
    text, lang = fn(c), c.visit.lang
    say = say_hint(c) if c.screen != Screen.HOME else ""
    if text and say and heard_words(_join(text, say), lang) <= MAX_WORDS:
        text = _join(text, say)
    return for_the_ear(text, lang)


def for_the_ear(text: str, lang: str) -> str:
    """Screen abbreviations said in full in English ("about 8 min" → "about 8 minutes", "20 m" → "20 metres")."""
    if lang != "en":
        return text
    for short, word in (("min", "minute"), ("m", "metre")):
        text = re.sub(rf"(?<![\d.,])1 ?{short}\b", f"1 {word}", text)  # "About 1 metres to go" was said
        text = re.sub(rf"(\d) ?{short}\b", rf"\1 {word}s", text)
    return text


def screen_lang(c) -> str:
    """The language of `screen_text` (the voice to read it with): the visitor's, except a detail
    page opened before a language change, whose texts are still in the language it was opened in."""
    p = c.visit.procedure
    if c.screen == Screen.DETAIL and p and p.get("lang") in ("vi", "en"):
        return p["lang"]
    return c.visit.lang
