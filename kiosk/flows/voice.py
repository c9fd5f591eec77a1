"""Voice: hold-to-talk (Vietnamese only), what was heard, and 'Đọc to' (read aloud) with a Stop.

Voice events are the typed events of `voice.events`, dispatched with `match`. Listening and
speaking count as activity (the idle timer never interrupts them); speech stops on Back,
Home, a language change, any change of screen and the end of the visit. What each screen
reads is in `kiosk/aloud.py`.
"""

from __future__ import annotations

import logging

from kiosk.flows.base import ControllerBase
from kiosk.flows.browse import SECTIONS
from kiosk.flows.guide import ACTIVE
from kiosk.visit import Screen

log = logging.getLogger("kiosk.voice")

COMMANDS = ("take_ticket", "guide", "back", "repeat", "english", "vietnamese", "home", "cancel")
#: a command offered as a button ("did you mean…") by its words in the visitor's language
COMMAND_WORDS = {"take_ticket": "voice.cmd_take_ticket", "guide": "voice.cmd_guide", "back": "voice.cmd_back",
                 "repeat": "voice.cmd_repeat", "english": "voice.cmd_english", "vietnamese": "voice.cmd_vietnamese",
                 "home": "voice.cmd_home", "cancel": "voice.cmd_cancel"}
#: the longest a reading or a listening holds the idle timer off: a screen is read in at most 60
#: words (~25 s), and a speaker or recogniser that never reports its end (a stuck sound card) must
#: not keep a visitor's ticket or dossier on screen for the next person
BUSY_MAX_S = 90.0
#: a spoken request's answer is read aloud when its screen shows within this many seconds (a
#: procedure loaded, a ticket issued); later, the visitor has moved on by touch
ANSWER_WINDOW_S = 15.0
#: commands whose answer is not a screen to read: "đọc lại" reads by itself, "hủy" silences, a
#: language change stays on the screen
QUIET_COMMANDS = ("repeat", "cancel", "english", "vietnamese")


class VoiceFlow(ControllerBase):
    def _init_flows(self) -> None:
        super()._init_flows()
        self.voice_ready = False
        self.voice_error = ""
        self.voice_missing_model = False
        self.voice_level = 0.0
        self._speech_gen = 0
        self._busy_since: float | None = None
        self._answer_due: tuple[int, float] | None = None  # (visit, since): a spoken request's answer to read
        self._spoken_from: Screen | None = None  # the screen the microphone was held on

    def warm_up(self) -> None:
        """Also load the speech normaliser (vietnormalizer: ~0.1 s the first time) off the UI thread,
        before the first "Đọc to" counts its words."""
        super().warm_up()

        def normaliser():
            from kiosk.aloud import heard

            heard("1", "vi")

        self._run("io", normaliser, None, lambda exc: None)

    def busy_with_visitor(self) -> bool:
        """Reading aloud or listening, for at most BUSY_MAX_S at a stretch."""
        if not (self.visit.speaking or self.visit.voice_state != "idle"):
            self._busy_since = None
            return False
        now = self.clock()
        if self._busy_since is None:
            self._busy_since = now
        return now - self._busy_since < BUSY_MAX_S

    def quiet(self) -> None:
        super().quiet()
        v = self.visit
        if v.speaking:
            self.stop_speaking()
        if self.voice is not None and v.voice_state != "idle":
            v.voice_state, v.voice_partial = "idle", ""
            self._run("io", getattr(self.voice, "cancel", lambda: None), None, lambda exc: None)
            self._emit("voice")

    # -- read aloud -----------------------------------------------------------------------
    def read_aloud(self) -> None:
        """'Đọc to': speak the procedure or ticket in the visitor's language; 'Dừng đọc' stops."""
        self.activity()
        if self.visit.speaking:
            self.stop_speaking()
            return
        if self.speaker is None:
            self.show_message("error.speech")
            return
        from kiosk.aloud import screen_lang

        text = self.aloud_text()
        if not text:
            return
        lang = screen_lang(self)
        self._speech_gen += 1
        gen, visit = self._speech_gen, self._visit_id
        self.visit.speaking = True
        self._emit("speech")

        def done(_ok=True):
            self.post(self._spoken, visit, gen)

        def say():
            self.speaker.stop()
            try:
                self.speaker.say(text, lang=lang, on_done=done)
            except TypeError:  # a speaker without completion callbacks
                self.speaker.say(text, lang=lang)
                done()

        self._run("io", say, None, lambda exc: (self._spoken(visit, gen), self.show_message("error.speech")))

    def _spoken(self, visit: int, gen: int) -> None:
        if visit == self._visit_id and gen == self._speech_gen and self.visit.speaking:
            self.visit.speaking = False
            self.activity()  # the visitor listened until the end: the idle time starts now
            self._emit("speech")

    def stop_speaking(self) -> None:
        self._speech_gen += 1
        if self.visit.speaking:
            self.visit.speaking = False
            self._emit("speech")
        if self.speaker is not None:
            self._run("io", self.speaker.stop, None, lambda exc: None)

    def aloud_text(self) -> str:
        """What 'Đọc to' says on this screen (written for listening: short, in the visitor's language;
        one small function per screen in `kiosk.aloud`)."""
        from kiosk.aloud import screen_text

        return screen_text(self)

    def go(self, screen: Screen, *, remember: bool = True) -> None:
        """A new screen: what was being read was about the old one, so the reading stops."""
        if screen != self.screen and self.visit.speaking:
            self.stop_speaking()
        changed = screen != self.screen
        super().go(screen, remember=remember)
        if changed and screen != Screen.SEARCH and self._answer_due is not None:
            self.post(self._read_answer)  # once the flow has set what the screen shows (the robot's state)

    def _read_answer(self) -> None:
        """A visitor who spoke hears the answer (round 12: a citizen who cannot read said "đăng ký
        khai sinh" or "lấy số" and the page or the ticket opened in silence: "Đọc to" is a button
        to find on the screen). Once per spoken request, when its screen shows."""
        due, self._answer_due = self._answer_due, None
        if (due is not None and due[0] == self._visit_id and self.clock() - due[1] <= ANSWER_WINDOW_S
                and not self.visit.speaking):  # already reading: read_aloud would stop it
            self.read_aloud()

    # -- listening ------------------------------------------------------------------------
    def mic_down(self) -> None:
        self.activity()
        if self.visit.lang != "vi":
            self.show_message("voice.vi_only")
            return
        if self.voice is None or not self.voice_ready:
            return
        if self.visit.speaking:
            self.stop_speaking()
        self._spoken_from = self.screen
        if self.screen != Screen.SEARCH:
            self.go(Screen.SEARCH)  # where listening, thinking and the answer are shown
        self.visit.voice_state = "listening"
        self.visit.voice_partial = ""
        self.voice_level = 0.0
        self._emit("voice")
        self._run("io", self.voice.press, None, lambda exc: self._voice_failed())

    def mic_up(self) -> None:
        self.activity()
        if self.voice is None or self.visit.voice_state != "listening":
            return
        self.visit.voice_state = "thinking"
        self._emit("voice")
        self._run("io", self.voice.release, None, lambda exc: self._voice_failed())

    def _voice_failed(self) -> None:
        self.visit.voice_state = "idle"
        self._emit("voice")
        self.show_message("voice.failed")

    def on_voice_event(self, ev) -> None:
        """A typed event of `voice.events`, already on the UI thread."""
        from voice import events as e

        v = self.visit
        match ev:
            case e.ModelReady():
                self.voice_ready, self.voice_error = True, ""
            case e.ModelFailed(reason=reason):
                self.voice_ready, self.voice_error = False, str(reason)
                self.voice_missing_model = (
                    "no model" in str(reason).lower() or "install" in str(reason).lower()
                )
            case e.ModelLoading():
                return
            case e.Listening(level=level):
                self.activity()
                self.voice_level = float(level)
                if v.voice_state == "listening":
                    self._emit("voice_level")
                    return
                v.voice_state = "listening"
            case e.Partial(text=text):
                self.activity()
                v.voice_partial = str(text)
            case e.Thinking():
                v.voice_state = "thinking"
            case e.Understood():
                v.voice_state, v.voice_candidates, v.voice_partial = "idle", [], ""
                self._expect_answer(ev)
                self._understood(ev.kind, ev.target, ev.text or ev.label)
            case e.NotUnderstood() if self._about_this_page(ev.text):
                v.voice_state, v.voice_partial, v.voice_candidates = "idle", "", []
            case e.NotUnderstood(referral=referral) if referral and ev.text.strip():
                v.voice_state, v.voice_partial, v.voice_candidates = "idle", "", []
                self._referred(ev.text, referral)
                self._expect_answer(ev)
                self._read_answer()
            case e.NotUnderstood(candidates=cands):
                v.voice_state, v.voice_partial = "idle", ""
                self._candidates(cands)
                self.go(Screen.SEARCH)
                if not v.voice_candidates:
                    self.show_message("voice.not_understood")
                self._expect_answer(ev)
                self._read_answer()
            case e.VoiceError():
                if v.voice_state != "idle":
                    v.voice_state = "idle"
                    self.show_message("voice.failed")
            case _:
                log.info("ignored voice event %r", ev)
                return
        self._emit("voice")

    def _expect_answer(self, ev) -> None:
        """The answer to this spoken request is to be read when its screen shows (`_read_answer`)."""
        if not (getattr(ev, "kind", None) == "command" and getattr(ev, "target", None) in QUIET_COMMANDS):
            self._answer_due = (self._visit_id, self.clock())

    def _candidates(self, cands) -> None:
        """What the engine thought it might have heard, as buttons: a command by its words in the
        visitor's language (its key, "take_ticket", was shown and read, and tapped it was searched)."""
        v = self.visit
        v.voice_candidates, v.voice_commands = [], {}
        for c in cands:
            target = c.get("target") if isinstance(c, dict) and c.get("kind") == "command" else None
            label = self.t(COMMAND_WORDS[target]) if target in COMMAND_WORDS else _label(c)
            if label and label not in v.voice_candidates and len(v.voice_candidates) < 4:
                v.voice_candidates.append(label)
                if target in COMMAND_WORDS:
                    v.voice_commands[label] = target

    def choose_candidate(self, text: str) -> None:
        """A voice candidate tapped: its command, or a search for its words."""
        self.activity()
        command = self.visit.voice_commands.get(text)
        if command:
            self.visit.voice_candidates = []
            self._asked_from()
            self._command(command)
            self._emit("voice")
        else:
            self.search(text)

    def _about_this_page(self, text: str) -> bool:
        """A bare question about the procedure on screen ("giấy tờ gì", "lệ phí bao nhiêu") that the
        engine could not place: the page, at that section, read again. It was taken as a new
        request: "Xin lỗi, chúng tôi chưa nghe rõ" on the search screen, the procedure left behind."""
        v = self.visit
        section = spoken_section(text) if (text or "").strip() else ""
        if not (section and v.procedure and self._spoken_on() == Screen.DETAIL):
            return False
        self._asked_from()
        v.section = section
        self._emit("detail")
        self.read_aloud()
        return True

    def voice_unavailable(self, reason: str, missing_model: bool = False) -> None:
        """The app found no voice model (no recogniser loaded at all)."""
        self.voice_ready, self.voice_error, self.voice_missing_model = False, reason, missing_model
        self._emit("voice")

    def _referred(self, text: str, referral: dict) -> None:
        """A spoken need the centre does not serve ("làm hộ chiếu"): the search screen with what was
        heard and where to go instead, as for the same words typed (the referral was dropped and the
        citizen was told only "not understood")."""
        v = self.visit
        self._search_gen += 1  # a search still running for older words must not replace this
        v.query, v.results, v.suggestions, v.see_also, v.searching = text, [], [], None, False
        v.referral = referral
        self.go(Screen.SEARCH)
        self._emit("voice_text", "search")

    def _understood(self, what: str, target: str, text: str) -> None:
        if what == "procedure" and target:
            self.visit.query = text
            self._emit("voice_text")
            self.open_procedure(target, spoken_section(text))
        elif what == "field" and target:
            self.open_fields()
            self.open_field(target)
        elif what == "command" and target in COMMANDS:
            self._command(target)
        else:
            self.open_search()
            self.search(text)
            self._emit("voice_text")

    def _command(self, target: str) -> None:
        match target:
            case "take_ticket":
                self.take_ticket_for_procedure() if self.visit.procedure else self.open_ticket()
            case "guide":
                self.guide_me()
            case "back":
                self.back()
            case "repeat":
                self._repeat()
            case "english":
                self.set_lang("en")
            case "vietnamese":
                self.set_lang("vi")
            case "home":
                self.home()
            case "cancel":
                self._cancel()

    def _spoken_on(self) -> Screen:
        """The screen the visitor spoke from: holding the microphone opened the search screen; the
        screen before it is the one meant when the microphone was held there, or when nothing is
        typed on the search screen. Round 12: after a spoken request the search held its words,
        so "đọc lại" on the procedure it opened read the search screen instead."""
        v = self.visit
        if self.screen == Screen.SEARCH and v.history and (
                not v.query.strip() or self._spoken_from not in (None, Screen.SEARCH)):
            return v.history[-1]
        return self.screen

    def _asked_from(self) -> None:
        """Back to the screen the visitor spoke from (`_spoken_on`)."""
        if self._spoken_on() != self.screen:
            self.back()

    def _repeat(self) -> None:
        """'Nhắc lại': read the screen the visitor asked from."""
        self._asked_from()
        self.read_aloud()

    def _cancel(self) -> None:
        """'Hủy' / 'Thôi' (voice/phrases: command `cancel`): on the screen the visitor asked from,
        the robot coming or leading is called off (the map instead), else a reading stops. It was
        searched as words: "hủy" with the robot on its way opened a search for "hủy"."""
        self._asked_from()
        if self.visit.escort in ACTIVE:  # the robot requested, coming or leading
            self.cancel_escort()
        else:
            self.quiet()


def spoken_section(text: str) -> str:
    """The detail section a spoken question asks about first ("… cần giấy tờ gì": documents; "…
    mất bao nhiêu tiền": fee), as the search finds it in typed questions; "" for a name alone."""
    from centre.search.analysis import asked_parts

    return next((p for p in asked_parts(text) if p in SECTIONS), "")


def _label(c) -> str:
    if isinstance(c, str):
        return c
    if isinstance(c, dict):
        return c.get("label") or c.get("text") or c.get("phrase") or ""
    return str(c)
