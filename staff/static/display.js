// The hall display: latest call per counter (1-16 counters, sized to fit), recent calls, waiting counts,
// chime + Vietnamese speech. Reconnects with back-off after any error and replays the calls it missed
// (announced, and marked with the time they were made).
"use strict";
(function () {
  const root = document.getElementById("display");
  const lang = root.dataset.lang;
  const TEXTS = JSON.parse((document.getElementById("texts") || {}).textContent || "{}");
  const $ = (id) => document.getElementById(id);
  let state = null;
  let lastEvent = 0;
  const freshUntil = {};  // counter id -> time until which its latest call is highlighted
  const lateAt = {};      // code -> time of a call replayed after a disconnection (shown "Gọi lúc …")
  const sayQueue = [];
  let speaking = false;
  let soundOk = true;
  let reconnects = 0;
  let lateCalls = 0;
  let announced = 0;

  function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  const cname = (vi, en) => (lang === "en" ? en : vi);
  const hhmm = (at) => new Date(at * 1000).toLocaleTimeString("vi-VN", {hour: "2-digit", minute: "2-digit", timeZone: root.dataset.tz || undefined});

  // Columns × rows for n counters, so that 16 counters still fit a 16:9 screen.
  function shape(n) {
    const cols = n <= 1 ? 1 : n <= 4 ? 2 : n <= 9 ? 3 : 4;
    return [cols, Math.max(1, Math.ceil(n / cols))];
  }

  // Font sizes from the box's real size: "A012" (4 wide characters) always fits inside its box.
  function fit() {
    const grid = $("counters");
    const n = grid.children.length;
    if (!n) return;
    const [cols, rows] = shape(n);
    grid.style.gridTemplateColumns = `repeat(${cols}, minmax(0, 1fr))`;
    grid.style.gridTemplateRows = `repeat(${rows}, minmax(0, 1fr))`;
    const box = grid.children[0];
    const w = box.clientWidth, h = box.clientHeight;
    const name = Math.max(12, Math.min(h * 0.16, w * 0.09));
    const code = Math.max(14, Math.min((h - name * 2.6) * 0.85, w * 0.27));
    grid.style.setProperty("--name-size", name + "px");
    grid.style.setProperty("--code-size", code + "px");
  }

  function counterBox(c) {
    const box = el("div", "counter-box state-" + c.state);
    box.dataset.counter = c.id;
    box.append(el("div", "cname", cname(c.name_vi, c.name_en)));
    box.append(el("div", c.latest ? "ccode" : "ccode empty", c.latest ? c.latest.code : "—"));
    if (c.state !== "open") box.append(el("div", "cstate", TEXTS["state_" + c.state] || c.state));
    if ((freshUntil[c.id] || 0) > Date.now()) box.classList.add("fresh");
    return box;
  }

  function render() {
    const grid = $("counters");
    grid.replaceChildren(...state.counters.map(counterBox));
    fit();
    const rec = $("recent");
    rec.replaceChildren();
    for (const r of state.recent.slice(0, 6)) {
      const late = lateAt[r.code];
      const li = el("li", late ? "late" : null);
      li.append(el("b", null, r.code), el("span", null, "→ " + cname(r.counter_vi, r.counter_en)));
      if (late) li.append(el("small", "when", `${TEXTS.late || ""} ${hhmm(late)}`));
      rec.append(li);
    }
    const w = $("waiting");
    w.replaceChildren();
    for (const s of state.waiting) {
      const li = el("li");
      li.append(el("span", "series", s.series), el("span", "sname", cname(s.name_vi, s.name_en)), el("b", "count", s.count));
      w.append(li);
    }
  }

  let refetchTimer = null;
  async function refetch() {
    try {
      const r = await fetch("/api/display", {credentials: "same-origin"});
      if (r.status === 401) { location.href = "/login?next=/display"; return; }
      if (r.ok) { state = await r.json(); render(); }
    } catch (e) { /* the server is away: the stream's back-off brings us back */ }
  }
  function soon() { clearTimeout(refetchTimer); refetchTimer = setTimeout(refetch, 300); }

  function onCall(ev) {
    if (!state) return;
    const c = state.counters.find((x) => x.id === ev.counter_id);
    const item = {code: ev.code, counter_id: ev.counter_id, at: ev.at, late: !!ev.late,
      counter_vi: c ? c.name_vi : String(ev.counter_id), counter_en: c ? c.name_en : String(ev.counter_id)};
    if (c) c.latest = item;
    freshUntil[ev.counter_id] = Date.now() + 20000;
    state.recent = [item, ...state.recent.filter((r) => r.code !== ev.code)].slice(0, 10);
    if (ev.late) { lateCalls += 1; lateAt[ev.code] = ev.at; } else { delete lateAt[ev.code]; }
    render();
    const box = document.querySelector(`.counter-box[data-counter="${ev.counter_id}"]`);
    if (box) box.classList.add("flash");
    announce(ev.code, ev.counter_id);
  }

  function play(url) {
    return new Promise((resolve) => {
      const a = new Audio(url);
      a.onended = resolve; a.onerror = resolve;
      a.play().catch(() => { soundOk = false; $("sound").hidden = false; resolve(); });
    });
  }
  async function speakNext() {
    if (speaking || !sayQueue.length) return;
    speaking = true;
    const {code, counter} = sayQueue.shift();
    await play("/api/chime.wav");
    await play(`/api/announce.wav?code=${encodeURIComponent(code)}&counter=${counter}`);
    speaking = false;
    speakNext();
  }
  function announce(code, counter) { announced += 1; if (sayQueue.length < 10) sayQueue.push({code, counter}); speakNext(); }
  $("sound").addEventListener("click", () => { soundOk = true; $("sound").hidden = true; play("/api/chime.wav"); });
  window.displayDebug = () => ({lastEvent, soundOk, queued: sayQueue.length, reconnects, lateCalls, announced,
                                connected: !!(es && es.readyState === 1)});

  // The stream: after ANY error (server down, 503 when full, a proxy cut) close it and come back after
  // 1, 2, 4 … 30 s (with jitter), asking for the calls made since the last one seen.
  let es = null;
  let backoff = 1000;
  let seenState = false;
  function connect() {
    // once a state was seen, every reconnection asks for what came after it (even "since=0")
    es = new EventSource("/api/events" + (seenState ? `?since=${lastEvent}` : ""));
    es.addEventListener("state", (e) => {
      state = JSON.parse(e.data);
      if (!seenState) lastEvent = Math.max(lastEvent, state.last_event_id || 0);
      seenState = true;
      render();
      $("offline").hidden = true;
      backoff = 1000;
    });
    es.addEventListener("queue", (e) => {
      const ev = JSON.parse(e.data);
      lastEvent = Math.max(lastEvent, ev.id);
      root.dataset.lastEvent = lastEvent;
      if (ev.kind === "call" || ev.kind === "recall") onCall(ev);
      soon();
    });
    es.onopen = () => { $("offline").hidden = true; };
    es.onerror = () => {
      es.close();
      $("offline").hidden = false;
      reconnects += 1;
      const wait = backoff + Math.random() * backoff * 0.3;
      backoff = Math.min(backoff * 2, 30000);
      setTimeout(() => { refetch(); connect(); }, wait);
    };
  }
  connect();

  function tick() {
    const d = new Date();
    // the centre's time, whatever time zone the TV's browser was set to
    const timeZone = root.dataset.tz || undefined;
    $("clock").textContent = d.toLocaleTimeString("vi-VN", {hour: "2-digit", minute: "2-digit", timeZone}) + " · " +
      d.toLocaleDateString(lang === "en" ? "en-GB" : "vi-VN", {weekday: "long", day: "2-digit", month: "2-digit", year: "numeric", timeZone});
  }
  tick(); setInterval(tick, 10000);
  setInterval(() => { if (state) render(); }, 5000);  // fade the "fresh" highlight
  window.addEventListener("resize", fit);
})();
