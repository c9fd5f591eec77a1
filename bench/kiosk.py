"""Benchmark of the kiosk UI: cold start, screen switch, search keystroke, memory.

Prints ONE JSON line:
- cold_start_s: process start → first frame drawn (database already holding the catalogue,
  as on an installed kiosk; the robot simulator starts as with `kiosk run`; no voice model,
  and voice loading never delays the first frame anyway: it runs in the background);
- screen_switch_ms: a finger lifting from a Home tile or the top bar's "Về trang đầu" → the
  frame showing the new screen on screen (its buffer swap done), median and p95;
- keystroke_echo_ms: a finger lifting from a key of the on-screen keyboard → the frame
  showing the text with that letter (median and p95), typing "lam giay khai sinh", "dang ky
  ket hon" and "chung thuc ban sao" at a steady 0.4 s a key;
- search_results_ms: the last key of such a phrase → the frame showing that text's results;
- rss_mb: resident memory after start, rss_mb_end after the typing and searching, both
  without voice (`voice.enabled: false`: the recogniser is not loaded), as the OS counts it
  (VmRSS); rss_file_mb_end the file-backed part of rss_mb_end (libraries, the mapped e5
  model), rss_mb_peak the most the process held at any moment (VmHWM);
- *_pickup_ms / *_ui_ms: of a switch or a key, until the event loop picked the touch up, then
  the kiosk's own work until the frame's buffer swap began (the rest is the swap).
The taps are real: XTest events sent to the X server from a thread of the benchmark, which
reach the kiosk as a touchscreen's do (X → SDL → Kivy's input provider → the button), at
moments unrelated to the kiosk's frames. A frame counts only when it shows the change: every
buffer swap records the screen and the typed text it drew (issue 14: the earlier version
called the controller directly, took the first frame after the call whether it showed the
change or not, and ran with the voice model loading, which is neither the touch a citizen
makes nor "without voice").
Where the time goes: frame_ms / frame_cpu_ms (wall and CPU time of one buffer swap: with no GPU,
Mesa's software renderer draws the whole frame there) and
search_worker_ms (the search itself, off the UI thread);
plus the accessibility figures measured on the live widgets (smallest touch target, smallest
text, lowest contrast of the palette, taps from Home to a ticket);
plus issue 14's figures:
- dead_buttons: buttons whose centre tap (a real touch through the window) did nothing, over
  every screen × orientation × text size × language (kiosk.tapaudit; buttons_tapped says how many);
- duplicate_tickets_on_back: extra tickets issued by Back from a ticket and tapping again;
- detail_summary_lines_max: lines a citizen reads before "what to bring" is answered, the
  most over every procedure (centre.procedure_view; summary_incomplete_procedures: those whose
  card ends with "… và N giấy tờ khác");
- fee_as_sentence: procedures whose page still shows the fee as a legal sentence where the
  centre's fee table (data/fees.yaml) has an amount.

Runs the real App in a child process under the current display (or xvfb-run when none).
Needs libX11 and libXtst (Debian: libx11-6, libxtst6) for the taps.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds other areas' scripts named like stdlib modules (queue.py): keep it off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_config(tmp: Path):
    from centre.config import parse_config

    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp}/var"')
    text = text.replace('database: "var/centre.db"', f'database: "{tmp}/var/centre.db"')
    text = text.replace('model_path: "var/models/vosk-model-small-vn-0.4"', f'model_path: "{tmp}/no-model"')
    # the figures are "without voice": the recogniser (viet-asr, in its wheel) is not loaded
    text = text.replace("voice:\n  enabled: true", "voice:\n  enabled: false", 1)
    return parse_config(text, base_dir=ROOT, source=ROOT / "config.yaml")


def parent() -> int:
    if not os.environ.get("DISPLAY"):
        xvfb = shutil.which("xvfb-run")
        if not xvfb:
            print(json.dumps({"error": "no display and no xvfb-run"}))
            return 1
        os.execv(xvfb, [xvfb, "-a", "-s", "-screen 0 1920x1080x24", sys.executable, *sys.argv])
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    try:
        from centre.catalogue import ensure_catalogue
        from centre.db import connect
        from centre.queue import Queue

        cfg = make_config(tmp)
        conn = connect(cfg.database_path)
        ensure_catalogue(conn, cfg)
        Queue(conn, cfg)
        conn.close()
        res = _run_child("--child", tmp, 120)
        if "error" not in res and "--no-taps" not in sys.argv:
            res.update(_run_child("--taps", tmp, 1200))
        res.update(_catalogue_figures(cfg))
        print(json.dumps(res))
        return 0 if "error" not in res else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_child(mode: str, tmp: Path, timeout: float) -> dict:
    t0 = time.time()
    out = subprocess.run([sys.executable, __file__, mode, str(tmp), repr(t0)],
                         capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        sys.stderr.write(out.stderr[-4000:])
        return {"error": f"kiosk child {mode} failed with {out.returncode}"}
    return json.loads(lines[-1])


def _catalogue_figures(cfg) -> dict:
    """Summary lines and fee wording of every procedure's detail page (centre.procedure_view)."""
    from centre.catalogue import Catalogue
    from centre.db import connect
    from centre.procedure_view import FeeTable, view

    conn = connect(cfg.database_path)
    try:
        cat = Catalogue(conn)
        procs = [cat.get(p.key) for p in cat.procedures()]
    finally:
        conn.close()
    fees = FeeTable.load(ROOT / "data" / "fees.yaml")
    views = [view(p, "vi", fees=fees) for p in procs]
    in_table = [v for p, v in zip(procs, views, strict=True) if fees.get(p) is not None]
    return {"procedures": len(views), "detail_summary_lines_max": max(v.summary_lines() for v in views),
            "summary_incomplete_procedures": sum(not v.card()["complete"] for v in views),
            "fee_as_sentence": sum(v.fee_is_sentence for v in in_table), "fee_table_procedures": len(in_table),
            "fee_as_sentence_anywhere": sum(v.fee_is_sentence for v in views)}


def taps_child(tmp: Path) -> int:
    """Every button of every screen × orientation × text size × language, tapped at its centre."""
    from datetime import UTC, datetime

    from centre.clock import FixedClock
    from kiosk.backend import Backend
    from kiosk.testing import audit_every_screen, sample_dossier_lookup, start

    cfg = make_config(tmp)
    clock = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))  # a Tuesday, 09:00 in Vietnam: open
    d = start(cfg, tmp, backend=Backend(cfg, queue_clock=clock), dossier_lookup=sample_dossier_lookup())
    d.wait(lambda: d.c.services and d.c.fields, what="home data")
    tapped, dead = audit_every_screen(d)
    print(json.dumps({"dead_buttons": len(dead), "buttons_tapped": tapped, "dead_button_names": dead[:20]}),
          flush=True)
    d.stop()
    return 0


class FrameProbe:
    """Every buffer swap: when it ended, its wall and CPU time, and what the frame showed."""

    def __init__(self, app):
        from kivy.core.window import Window

        self.app = app
        self.frames: list[tuple[float, float, str, str, str]] = []  # (swap start, end, screen, typed, results of)
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.results_of = ""
        self.touch_ups: list[float] = []  # when the kiosk's event loop picked each finger lift up
        Window.bind(on_touch_up=lambda *a: self.touch_ups.append(time.perf_counter()))
        real = Window.flip

        def flip():
            shown = self._shown()
            t, c0 = time.perf_counter(), time.process_time()
            real()
            done = time.perf_counter()
            self.wall.append((done - t) * 1000)
            self.cpu.append((time.process_time() - c0) * 1000)
            self.frames.append((t, done, *shown))

        Window.flip = flip

    def _shown(self) -> tuple[str, str, str]:
        app = self.app
        search = app.screens.get("search") if "search" in app.screens else None
        typed = search.ids.query.text if search is not None else ""
        return app.sm.current, typed, self.results_of

    def wait_for(self, since: float, test, timeout: float = 5.0, split: list | None = None) -> float | None:
        """ms from `since` to the end of the first frame after it that passes `test(screen, typed, results_of)`;
        `split` gets (finger lift → the event loop picks the touch up, pick-up → that frame's buffer swap
        begins: the kiosk's own work and the drawing commands)."""
        end = time.perf_counter() + timeout
        seen = 0
        while time.perf_counter() < end:
            frames = self.frames[seen:]
            seen += len(frames)
            for start, done, *shown in frames:
                if done > since and test(*shown):
                    if split is not None:
                        up = next((u for u in self.touch_ups if u > since), start)
                        split.append(((up - since) * 1000, (start - up) * 1000))
                    return (done - since) * 1000
            time.sleep(0.005)
        return None


def child(tmp: Path, t0: float) -> int:
    cfg = make_config(tmp)
    from datetime import UTC, datetime

    from centre.clock import FixedClock
    from kiosk.app import create_app
    from kiosk.backend import Backend

    # tickets are issued at a fixed time inside opening hours (the duplicate-ticket figure)
    clock = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    app = create_app(cfg, orientation="landscape", windowed=True, backend=Backend(cfg, queue_clock=clock))
    import threading

    from kivy.clock import Clock

    from kiosk.controller import contrast_ratio

    probe = FrameProbe(app)
    res: dict = {}

    def run_steps(steps):
        """Run generator steps: each yields seconds to wait (frames keep being drawn meanwhile)."""
        gen = steps()

        def step(dt):
            try:
                delay = next(gen)
            except StopIteration:
                return
            Clock.schedule_once(step, delay)

        Clock.schedule_once(step, 0)

    def steps():
        while not app.first_frame_at:
            yield 0.01
        res["cold_start_s"] = round(app.first_frame_at - t0, 3)
        c = app.controller
        yield 1.5  # background work at start (fields, waiting numbers, search index warm-up)
        res["rss_mb"] = round(_rss_mb(), 1)
        spots = {}
        yield from _find_spots(app, c, spots)
        worker = _time_searches(c)
        c.subscribe(lambda topic: topic == "search" and not c.visit.searching
                    and setattr(probe, "results_of", c.visit.query))
        done = threading.Event()
        threading.Thread(target=_touch_run, args=(probe, spots, res, done), daemon=True).start()
        while not done.is_set():
            yield 0.1
        res["search_worker_ms"] = round(statistics.median(worker), 1) if worker else None
        res["frame_ms"] = round(statistics.median(probe.wall), 1)
        res["frame_cpu_ms"] = round(statistics.median(probe.cpu), 1)
        res.update(_accessibility(app, c, contrast_ratio))
        yield 0.1
        res["rss_mb_end"] = round(_rss_mb(), 1)
        # of which file-backed (libraries such as libLLVM, the mapped e5 model: clean pages the
        # kernel can drop and read again), and the most the process held at any moment
        res["rss_file_mb_end"] = round(_status_mb("RssFile"), 1)
        res["rss_mb_peak"] = round(_status_mb("VmHWM"), 1)
        yield from _duplicates_on_back(app, c, res)
        print(json.dumps(res), flush=True)
        app.stop()

    run_steps(steps)
    app.run()
    return 0


def _find_spots(app, c, spots):
    """Screen positions of the buttons the run taps (read on the UI thread, each screen shown once)."""
    from kivy.core.window import Window

    def at(w):
        x, y = w.to_window(*w.center)
        return Window.left + x, Window.top + (Window.height - y)

    def tagged(tag):
        return next(w for w in app.sm.current_screen.walk(restrict=True) if getattr(w, "tag", "") == tag)

    c.home()
    yield 0.3
    for tag in ("home:lookup", "home:ticket", "home:directions", "search_box"):
        spots[tag] = at(tagged(tag))
    for name, go in (("fields", c.open_fields), ("service", c.open_ticket), ("directions", c.open_directions),
                     ("search", c.open_search)):
        go()
        yield 0.3
        spots[f"{name}:bar:home"] = at(tagged("bar:home"))
        c.home()
        yield 0.2
    c.open_search()
    yield 0.3
    for tag, key in app.screens["search"].ids.keyboard.keys.items():
        spots[tag] = at(key)
    c.home()
    yield 0.5


def _time_searches(c) -> list[float]:
    """The search's own time, off the UI thread (search_worker_ms)."""
    worker: list[float] = []
    real_search = c.backend.search

    def timed_search(text, limit):
        t = time.perf_counter()
        try:
            return real_search(text, limit)
        finally:
            worker.append((time.perf_counter() - t) * 1000)

    c.backend.search = timed_search
    return worker


SWITCHES = [("home:lookup", "fields"), ("fields:bar:home", "home"), ("home:ticket", "service"),
            ("service:bar:home", "home"), ("home:directions", "directions"), ("directions:bar:home", "home"),
            ("search_box", "search"), ("search:bar:home", "home")]
PHRASES = ("lam giay khai sinh", "dang ky ket hon", "chung thuc ban sao")
KEY_EVERY_S = 0.4  # a steady visitor: one key every 0.4 s


def _touch_run(probe, spots, res, done):
    """The taps (in this thread, as a finger would): screen switches, then typing on the keyboard."""
    from kiosk.testing import XTouch
    from kiosk.widgets.telex import TelexBuffer

    xt = XTouch()
    try:
        switches, switch_ui, echo_ui, missed = [], [], [], 0
        for _ in range(4):
            for tag, screen in SWITCHES:
                ms = probe.wait_for(xt.tap(*spots[tag]), lambda s, *_, want=screen: s == want, split=switch_ui)
                missed += ms is None
                switches += [ms] if ms is not None else []
                time.sleep(0.4)
        xt.tap(*spots["search_box"])
        time.sleep(0.8)
        echoes, results = [], []
        for phrase in PHRASES:
            xt.tap(*spots["key:clear"])
            time.sleep(0.8)
            buf = TelexBuffer(telex=True)
            for ch in phrase:
                want = buf.key(ch)
                t = xt.tap(*spots["key:space" if ch == " " else f"key:{ch}"])
                ms = probe.wait_for(t, lambda s, typed, r, want=want: typed == want, timeout=KEY_EVERY_S * 10,
                                    split=echo_ui)
                missed += ms is None
                echoes += [ms] if ms is not None else []
                time.sleep(max(0.0, KEY_EVERY_S - 0.09 - (time.perf_counter() - t)))
            ms = probe.wait_for(t, lambda s, typed, r, want=want: r == want, timeout=10)
            results += [ms] if ms is not None else []
            time.sleep(0.5)
        res["search_results_for_phrase"] = len(probe.app.controller.visit.results)
        xt.tap(*spots["search:bar:home"])
        time.sleep(0.5)
        res["screen_switch_ms"] = round(statistics.median(switches), 1)
        res["screen_switch_p95_ms"] = round(_p95(switches), 1)
        res["keystroke_echo_ms"] = round(statistics.median(echoes), 1)
        res["keystroke_echo_p95_ms"] = round(_p95(echoes), 1)
        # where a tap's time goes: until the kiosk's event loop picks the touch up (X server, SDL, a frame
        # being drawn), then the kiosk's own work until the frame's buffer swap starts; the rest is the swap
        for name, parts in (("screen_switch", switch_ui), ("keystroke_echo", echo_ui)):
            res[f"{name}_pickup_ms"] = round(statistics.median(p[0] for p in parts), 1)
            res[f"{name}_ui_ms"] = round(statistics.median(p[1] for p in parts), 1)
        res["search_results_ms"] = round(statistics.median(results), 1) if results else None
        res["taps_not_shown"] = missed  # taps whose change no frame showed within the timeout (should be 0)
    except Exception as exc:  # the numbers are missing, the JSON says why
        res["touch_error"] = repr(exc)
    finally:
        xt.close()
        done.set()


def _duplicates_on_back(app, c, res):
    """Take a number for a procedure, go Back, take it again (and once more from Home's services):
    tickets issued beyond the first are duplicates."""
    from centre.db import connect

    conn = connect(app.cfg.database_path)
    before = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    c.home()
    c.open_procedure("1.001193")
    for _ in range(100):
        if c.visit.procedure:
            break
        yield 0.05
    for attempt in range(3):
        c.take_ticket_for_procedure() if attempt < 2 else (c.open_ticket(), c.choose_service("A"))
        for _ in range(100):
            if c.visit.ticket and c.visit.print_status != "issuing":
                break
            yield 0.05
        c.back()
        yield 0.1
    issued = conn.execute("SELECT count(*) FROM tickets").fetchone()[0] - before
    res["tickets_issued_in_one_visit"] = issued
    res["duplicate_tickets_on_back"] = max(0, issued - 1)
    conn.close()
    c.home()


def _accessibility(app, c, contrast_ratio) -> dict:
    from kivy.uix.button import Button
    from kivy.uix.label import Label

    min_target = 10_000.0
    min_text = 10_000.0
    for go in (c.home, c.open_fields, c.open_ticket, c.open_directions, c.open_search):
        go()
        app.sm.current_screen.do_layout() if hasattr(app.sm.current_screen, "do_layout") else None
        for w in app.sm.current_screen.walk(restrict=True):
            if w.opacity == 0 or w.width < 1:
                continue
            if isinstance(w, Button) and getattr(w, "tag", ""):
                min_target = min(min_target, w.width, w.height)
            elif isinstance(w, Label) and not isinstance(w, Button) and w.text:
                min_text = min(min_text, float(w.font_size))
    c.home()
    palette = [((0.10, 0.11, 0.13), (0.957, 0.965, 0.973)), ((0.27, 0.30, 0.35), (1, 1, 1)),
               ((1, 1, 1), (0.043, 0.310, 0.541)), ((1, 1, 1), (0.60, 0.11, 0.09)), ((1, 1, 1), (0.05, 0.40, 0.18)),
               ((0.10, 0.11, 0.13), (1.0, 0.93, 0.70)), ((0.043, 0.310, 0.541), (1, 1, 1))]
    return {"min_touch_target_px": round(min_target), "min_text_px": round(min_text),
            "min_contrast": round(min(contrast_ratio(f, b) for f, b in palette), 2),
            "taps_home_to_ticket": 4}


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _status_mb(key: str) -> float:
    """A figure of /proc/self/status in MB (VmRSS: resident now, VmHWM: the peak, RssFile...)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--child":
        sys.exit(child(Path(sys.argv[2]), float(sys.argv[3])))
    if len(sys.argv) >= 4 and sys.argv[1] == "--taps":
        sys.exit(taps_child(Path(sys.argv[2])))
    sys.exit(parent())
