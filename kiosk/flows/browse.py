"""Browsing: fields → procedures → one procedure's detail page, and search as the visitor types."""

from __future__ import annotations

import time

from kiosk.flows.base import ControllerBase
from kiosk.visit import Screen

#: detail-page sections a question can ask about (search `Hit.answers`) → the section shown first
SECTIONS = ("documents", "fee", "time", "applicants", "place")
#: a pause in typing is longer than this many of the visitor's own recent gaps between keys…
PAUSE_PER_GAP = 1.5
#: …but never longer than this (a slow, steady typist still sees results between keys)
PAUSE_MAX_S = 1.0
#: the i18n key naming each referral topic (data/referrals.yaml ids) in the "see also" line; an id
#: a centre adds without one here is named by the citizen's own words (`search.see_also_words`)
SEE_ALSO_TOPICS = {
    "passport": "topic.passport",
    "driving_licence": "topic.driving_licence",
    "divorce": "topic.divorce",
    "court": "topic.court",
    "tax": "topic.tax",
    "company": "topic.company",
    "vehicle_inspection": "topic.vehicle_inspection",
    "hospital": "topic.hospital",
    "bank": "topic.bank",
    "police_report": "topic.police_report",
    "social_insurance_book": "topic.social_insurance_book",
    "criminal_record": "topic.criminal_record",
    "notary": "topic.notary",
    "utilities": "topic.utilities",
    "school": "topic.school",
    "labour": "topic.labour",
    "labour_dispute": "topic.labour_dispute",
    "land_registry": "topic.land_registry",
    "public_order": "topic.public_order",
    "traffic_fine": "topic.traffic_fine",
    "fire": "topic.fire",
    "environment": "topic.environment",
    "insurance_products": "topic.insurance_products",
    "telecom": "topic.telecom",
    "public_transport": "topic.public_transport",
    "military_service": "topic.military_service",
    "work_permit": "topic.work_permit",
    "nationality": "topic.nationality",
    "land_acquisition": "topic.land_acquisition",
    "criminal": "topic.criminal",
}


class BrowseFlow(ControllerBase):
    def _init_flows(self) -> None:
        super()._init_flows()
        self._search_gen = 0
        self._key_times: list[float] = []

    def _forget(self) -> None:
        super()._forget()
        self._search_gen += 1
        self._key_times = []

    def set_lang(self, lang: str) -> None:
        """A language change on an open procedure reloads its page in the new language (its
        labels, fee and time wording, summary and read-aloud text are written per language)."""
        before = self.visit.lang
        super().set_lang(lang)
        p = self.visit.procedure
        if p and self.visit.lang != before:
            visit, key, lang = self._visit_id, p.get("key"), self.visit.lang
            self._run("db", lambda: self.backend.procedure(key, lang),
                      lambda rec: self._relabelled(visit, key, lang, rec),
                      lambda exc: self.show_message("error.catalogue"))

    def _relabelled(self, visit: int, key: str, lang: str, rec: dict | None) -> None:
        v = self.visit
        if visit != self._visit_id or rec is None or v.lang != lang or not v.procedure or v.procedure.get("key") != key:
            return  # the visitor moved on (another procedure, language or visit) meanwhile
        v.procedure = rec  # the section asked about, ticked documents and open groups are kept
        self._emit("detail")

    # -- fields and procedures ------------------------------------------------------------
    def open_fields(self) -> None:
        self.activity()
        self.go(Screen.FIELDS)
        if not self.fields:
            self._run("db", self.backend.fields, self._got_fields)

    def open_field(self, field_id: str) -> None:
        self.activity()
        f = next((f for f in self.fields if f["id"] == field_id), {"id": field_id})
        self.visit.field_id = field_id
        self.visit.field_name = f
        self.visit.procedures = []
        self.visit.procedures_loading = True
        self.go(Screen.PROCEDURES)
        self._emit("procedures")
        visit = self._visit_id
        self._run("db", lambda: self.backend.procedures(field_id),
                  lambda procs: self._got_procedures(visit, field_id, procs))

    def _got_procedures(self, visit: int, field_id: str, procs: list[dict]) -> None:
        if visit != self._visit_id or field_id != self.visit.field_id:
            return
        self.visit.procedures = procs
        self.visit.procedures_loading = False
        self._emit("procedures")

    def open_procedure(self, key: str, section: str = "") -> None:
        """Show a procedure's detail page; `section` (documents, fee, time, applicants, place) opens there."""
        self.activity()
        visit = self._visit_id
        lang = self.visit.lang
        self._run("db", lambda: self.backend.procedure(key, lang),
                  lambda rec: self._got_procedure(visit, rec, section),
                  lambda exc: self.show_message("error.catalogue"))

    def _got_procedure(self, visit: int, rec: dict | None, section: str) -> None:
        if visit != self._visit_id:
            return
        if rec is None:
            self.show_message("error.procedure_gone")
            return
        self.quiet()
        self.visit.procedure = rec
        self.visit.section = section if section in SECTIONS else ""
        self.visit.open_groups = set()
        self.visit.checked_docs = set()
        self.visit.destination = rec.get("destination")
        self.go(Screen.DETAIL)
        self._emit("detail")

    def toggle_doc(self, index: int) -> None:
        self.activity()
        self.visit.checked_docs.symmetric_difference_update({index})
        self._emit("checklist")

    def toggle_group(self, name: str) -> None:
        """Open or close a collapsed group of the detail page ("Nếu…" documents, legal basis)."""
        self.activity()
        self.visit.open_groups.symmetric_difference_update({name})
        self._emit("detail_groups")

    # -- search ---------------------------------------------------------------------------
    def open_search(self, text: str = "") -> None:
        self.activity()
        self.go(Screen.SEARCH)
        if text:
            self.search(text)

    def search(self, text: str, pause: float = 0.0) -> None:
        """Search as the visitor types: only the newest keystroke's results are shown.

        `pause` (the keyboard: `kiosk.search_pause_s`): the search starts once no key came for
        that long, or for longer than the visitor's own pace (`typing_pause`), so typing is
        never slowed by searches, and redraws, of texts already outdated; the typed text is the
        visit's query at once.
        """
        if pause > 0:
            pause = self.typing_pause(pause)
        self.activity()
        self.visit.query = text
        self._search_gen += 1
        gen = self._search_gen
        if not text.strip():
            v = self.visit
            v.results, v.suggestions, v.referral, v.see_also, v.searching = [], [], None, None, False
            self._emit("search")
            return
        self.visit.searching = True
        due = time.monotonic() + (0.0 if self.synchronous else pause)

        def work():
            if gen != self._search_gen:
                return None  # a newer keystroke is queued: skip this one
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
                if gen != self._search_gen:
                    return None  # the visitor typed on
            return self.backend.search(text, self.cfg.search.limit)

        self._run("search", work, lambda res: self._got_results(gen, res),
                  lambda exc: self._search_failed(gen))

    def typing_pause(self, least: float) -> float:
        """How long after this key a pause in typing begins: at least `least`, and PAUSE_PER_GAP
        times the median of the visitor's last three gaps between keys (up to PAUSE_MAX_S), so
        a visitor typing at a steady pace gets no search and no redrawn list between two keys
        (each would delay the next letter by a frame); results come once they stop."""
        now = self.clock()
        keys = self._key_times = [t for t in self._key_times[-3:] if now - t < 2 * PAUSE_MAX_S] + [now]
        gaps = sorted(b - a for a, b in zip(keys, keys[1:], strict=False))
        if not gaps:
            return least
        return max(least, min(PAUSE_MAX_S, PAUSE_PER_GAP * gaps[len(gaps) // 2]))

    def _got_results(self, gen: int, res: dict | None) -> None:
        if res is None or gen != self._search_gen:
            return  # stale
        v = self.visit
        v.searching = False
        v.results = res.get("hits", [])
        v.suggestions = res.get("suggestions", [])
        v.referral = res.get("referral")
        v.see_also = res.get("see_also") if v.results else None  # "see also: where to go" beside answers
        self._emit("search")

    def _search_failed(self, gen: int) -> None:
        if gen == self._search_gen:
            self.visit.searching = False
            self._emit("search")
            self.show_message("error.search")

    def see_also_text(self, advice: bool = True) -> str:
        """With results: "Nếu Ông/Bà cần ly hôn: Tòa án nhân dân khu vực." and the table's advice
        ("Xin hỏi cán bộ hướng dẫn…"; `advice=False`: without it, where room is short) for the
        search's `see_also` (the request also names something handled elsewhere), in the visit's
        language; "" without one. The search screen shows it; read-aloud may say it."""
        v = self.visit
        ref = (v.see_also if v.results else None) or {}
        office = ref.get(f"office_{v.lang}") or ref.get("office_vi")
        if not office:
            return ""
        key = SEE_ALSO_TOPICS.get(ref.get("id") or "")
        if key:
            line = self.t("search.see_also", topic=self.t(key), office=office)
        else:
            line = self.t("search.see_also_words", topic=ref.get("matched") or "", office=office)
        tip = (ref.get(f"advice_{v.lang}") or ref.get("advice_vi") or "") if advice else ""
        return f"{line} {tip}".strip()

    def open_hit(self, key: str) -> None:
        """A search result: its detail page, at the section the question asked about."""
        hit = next((h for h in self.visit.results if h.get("key") == key), {})
        answers = hit.get("answers") or []  # section names, in the order the question asked
        first = answers[0] if answers else ""
        self.open_procedure(key, first.get("section", "") if isinstance(first, dict) else str(first))
