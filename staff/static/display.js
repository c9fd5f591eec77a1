// The hall display: latest call per counter, recent calls, waiting counts, chime + Vietnamese speech.
"use strict";
(function () {
  const root = document.getElementById("display");
  const lang = root.dataset.lang;
  const $ = (id) => document.getElementById(id);
  let state = null;
  let lastEvent = 0;
  const freshUntil = {};  // counter id -> time until which its latest call is highlighted
  const sayQueue = [];
  let speaking = false;
  let soundOk = true;

  function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  const cname = (vi, en) => (lang === "en" ? en : vi);

  function render() {
    const grid = $("counters");
    grid.replaceChildren();
    for (const c of state.counters) {
      const box = el("div", "counter-box state-" + c.state);
      box.dataset.counter = c.id;
      box.append(el("div", "cname", cname(c.name_vi, c.name_en)));
      const code = el("div", c.latest ? "ccode" : "ccode empty", c.latest ? c.latest.code : "—");
      if ((freshUntil[c.id] || 0) > Date.now()) box.classList.add("fresh");
      box.append(code);
      grid.append(box);
    }
    const rec = $("recent");
    rec.replaceChildren();
    for (const r of state.recent) {
      const li = el("li");
      li.append(el("b", null, r.code), el("span", null, " → " + cname(r.counter_vi, r.counter_en)));
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
    const r = await fetch("/api/display", {credentials: "same-origin"});
    if (r.status === 401) { location.href = "/login?next=/display"; return; }
    if (r.ok) { state = await r.json(); render(); }
  }
  function soon() { clearTimeout(refetchTimer); refetchTimer = setTimeout(refetch, 300); }

  function onCall(ev) {
    if (!state) return;
    const c = state.counters.find((x) => x.id === ev.counter_id);
    const item = {code: ev.code, counter_id: ev.counter_id, at: ev.at,
      counter_vi: c ? c.name_vi : String(ev.counter_id), counter_en: c ? c.name_en : String(ev.counter_id)};
    if (c) c.latest = item;
    freshUntil[ev.counter_id] = Date.now() + 20000;
    state.recent = [item, ...state.recent.filter((r) => r.code !== ev.code)].slice(0, 10);
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
  function announce(code, counter) { if (sayQueue.length < 10) sayQueue.push({code, counter}); speakNext(); }
  $("sound").addEventListener("click", () => { soundOk = true; $("sound").hidden = true; play("/api/chime.wav"); });
  window.displayDebug = () => ({lastEvent, soundOk, queued: sayQueue.length});

  const es = new EventSource("/api/events");
  es.addEventListener("state", (e) => { state = JSON.parse(e.data); render(); $("offline").hidden = true; });
  es.addEventListener("queue", (e) => {
    const ev = JSON.parse(e.data);
    lastEvent = ev.id;
    root.dataset.lastEvent = ev.id;
    if (ev.kind === "call" || ev.kind === "recall") onCall(ev);
    soon();
  });
  es.onopen = () => { $("offline").hidden = true; };
  es.onerror = () => { $("offline").hidden = false; };

  function tick() {
    const d = new Date();
    // the centre's time, whatever time zone the TV's browser was set to
    const timeZone = root.dataset.tz || undefined;
    $("clock").textContent = d.toLocaleTimeString("vi-VN", {hour: "2-digit", minute: "2-digit", timeZone}) + " · " +
      d.toLocaleDateString("vi-VN", {weekday: "long", day: "2-digit", month: "2-digit", year: "numeric", timeZone});
  }
  tick(); setInterval(tick, 10000);
  setInterval(() => { if (state) render(); }, 5000);  // fade the "fresh" highlight
})();
