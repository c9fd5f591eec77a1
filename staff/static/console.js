// The counter console: waiting list, current ticket, actions, keyboard shortcuts, live updates.
"use strict";
(function () {
  const root = document.getElementById("console");
  const counterId = Number(root.dataset.counter);
  const lang = root.dataset.lang;
  const $ = (id) => document.getElementById(id);
  let state = null;
  let refreshTimer = null;

  function say(text, bad) { const m = $("message"); m.textContent = text || ""; m.classList.toggle("error", !!bad); }

  async function refresh() {
    try { state = await api("GET", `/api/counters/${counterId}/queue`); render(); }
    catch (e) { say(e.message, true); }
  }
  function soon() { clearTimeout(refreshTimer); refreshTimer = setTimeout(refresh, 80); }

  function render() {
    const c = state.counter, cur = state.current;
    $("counter-state").textContent = TEXTS["state_" + c.state];
    $("counter-state").className = "badge state-" + c.state;
    $("current-code").textContent = cur ? cur.code : "—";
    $("current-code").classList.toggle("prio", !!(cur && cur.priority));
    $("current-code").classList.toggle("none", !cur);
    $("current-state").textContent = cur ? TEXTS["state_" + cur.state] + (cur.recalls ? ` · ×${cur.recalls + 1}` : "") : TEXTS.no_current;
    const proc = cur && cur.procedure;
    $("current-procedure").hidden = !proc;
    $("current-procedure").textContent = proc ? `${TEXTS.procedure}: ${lang === "en" && proc.name_en ? proc.name_en : proc.name}` + (proc.code ? ` (${proc.code})` : "") : "";
    if (!cur || cur.state !== "called") $("ask").hidden = true;
    const open = c.state === "open";
    $("btn-next").disabled = !open;
    $("btn-recall").disabled = !(cur && cur.state === "called");
    $("btn-start").disabled = !(cur && cur.state === "called");
    $("btn-serve").disabled = !cur;
    $("btn-noshow").disabled = !(cur && cur.state === "called");
    $("btn-transfer").disabled = !cur;
    $("btn-pause").innerHTML = (open ? TEXTS.pause : TEXTS.resume) + " <kbd>P</kbd>";
    const ls = state.last_served;
    $("last-served").textContent = ls ? `${TEXTS.served}: ${ls.code}` + (ls.rating ? ` · ${TEXTS.rating}: ${"★".repeat(ls.rating)}` : "") : "";
    const selS = $("transfer-service"), selC = $("transfer-counter");
    if (selS.options.length <= 1) {
      for (const s of state.services) selS.append(el("option", {value: s.series}, `${s.series} — ${lang === "en" ? s.name_en : s.name_vi}`));
      for (const k of state.counters) if (k.id !== counterId) selC.append(el("option", {value: k.id}, lang === "en" ? k.name_en : k.name_vi));
    }
    const body = $("waiting-body");
    body.replaceChildren();
    const target = Object.fromEntries(state.services.map((s) => [s.series, s.target_wait_min]));
    state.waiting.forEach((t, i) => {
      const tr = el("tr", {class: t.priority ? "prio" : ""},
        el("td", {class: "code"}, t.code),
        el("td", {}, t.service + (t.to_me ? " →" : "")),
        el("td", {class: t.waited_min > (target[t.service] || 15) ? "late" : ""}, `${Math.round(t.waited_min)} ${TEXTS.minutes_short}`),
        el("td", {}, t.priority ? el("span", {class: "badge prio", title: t.priority}, "★ " + TEXTS.priority) : ""),
        el("td", {class: "row-action"}, callButton(t)));
      if (i === 0) tr.classList.add("next");
      body.append(tr);
    });
    $("waiting-count").textContent = state.waiting.length;
    $("nobody").hidden = state.waiting.length > 0;
  }

  // Call one chosen ticket out of order (e.g. a citizen who cannot wait); the counter must be open.
  function callButton(t) {
    const b = el("button", {class: "small", type: "button", title: TEXTS.call_this}, TEXTS.call_this);
    b.disabled = !state || state.counter.state !== "open";
    b.addEventListener("click", () => act(() => callWith(`/api/tickets/${t.id}/call?counter=${counterId}`, "ask")));
    return b;
  }

  // Actions run one after another (a quick "R" then "S" both happen, in order).
  let chain = Promise.resolve();
  function act(fn) {
    chain = chain.then(async () => {
      say("");
      try { await fn(); } catch (e) { say(e.message, true); }
      await refresh();
    });
    return chain;
  }
  const cur = () => state && state.current;
  const actions = {
    "btn-next": () => act(() => callNext("ask")),
    "btn-recall": () => cur() && act(() => api("POST", `/api/tickets/${cur().id}/recall`)),
    "btn-start": () => cur() && act(() => api("POST", `/api/tickets/${cur().id}/start`)),
    "btn-serve": () => cur() && act(() => api("POST", `/api/tickets/${cur().id}/serve`)),
    "btn-noshow": () => cur() && act(() => api("POST", `/api/tickets/${cur().id}/no-show`)),
    "btn-transfer": () => cur() && act(async () => {
      const service = $("transfer-service").value || null;
      const counter = $("transfer-counter").value ? Number($("transfer-counter").value) : null;
      if (!service && !counter) { $("transfer-service").focus(); return; }
      await api("POST", `/api/tickets/${cur().id}/transfer`, {service, counter});
    }),
    "btn-pause": () => state && act(() => api("PUT", `/api/counters/${counterId}/state`,
      {state: state.counter.state === "open" ? "paused" : "open"})),
  };
  for (const [id, fn] of Object.entries(actions)) $(id).addEventListener("click", fn);

  // "Next" on a ticket that was called but never started: the server asks (CurrentNotStarted) and so do we:
  // recall it, record a no-show, or say it was served. Nothing becomes "served" by pressing N twice.
  // The answer names the ticket it is about (current_code): a second click, queued behind the first,
  // is then asked about the ticket the first one called instead of marking it no-show at once.
  // "Call this ticket" asks and answers the same way: the answer repeats the call it is about
  // (`asking`: "Next" or the chosen ticket) and names the ticket shown in the question.
  const nextPath = () => `/api/counters/${counterId}/call-next`;
  let asking = nextPath();
  async function callWith(path, current) {
    try {
      const body = current === "ask" ? {current} : {current, current_code: $("ask-code").textContent};
      const r = await api("POST", path, body);
      $("ask").hidden = true;
      if (!r.ticket) say(TEXTS.nobody_waiting);
    } catch (e) {
      if (e.data && e.data.error === "CurrentNotStarted") {
        asking = path;
        $("ask-code").textContent = e.data.code;
        $("ask").hidden = false;
        $("ask-recall").focus();
        return;
      }
      throw e;
    }
  }
  const callNext = (current) => callWith(current === "ask" ? nextPath() : asking, current);
  $("ask-recall").addEventListener("click", () => cur() && act(async () => {
    $("ask").hidden = true;
    await api("POST", `/api/tickets/${cur().id}/recall`);
  }));
  $("ask-noshow").addEventListener("click", () => act(() => callNext("no_show")));
  $("ask-served").addEventListener("click", () => act(() => callNext("serve")));
  $("ask-cancel").addEventListener("click", () => { $("ask").hidden = true; });

  const keys = {};
  document.querySelectorAll("button[data-key]").forEach((b) => { keys[b.dataset.key] = b; });
  // A key held down, or pressed again within data-repeat-ms, acts once (N, N called two citizens).
  const repeatMs = Number(root.dataset.repeatMs || 1500);
  const lastPress = {};
  let ignored = 0;
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    if (["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) return;
    if (!$("ask").hidden) {  // the question is open: answer it with its buttons; Esc closes it
      if (e.key === "Escape") { $("ask").hidden = true; $("btn-next").focus(); }
      return;
    }
    // Space or Enter on a focused button presses THAT button (keyboard users Tab to "Start" and press
    // Space): space is the "next" shortcut only when no button or link has the focus.
    if (e.key === " " && ["BUTTON", "A"].includes(document.activeElement.tagName)) return;
    const b = keys[e.key.toUpperCase()] || (e.key === " " ? keys.N : null);
    if (!b) return;
    e.preventDefault();
    const now = Date.now();
    if (e.repeat || now - (lastPress[b.id] || 0) < repeatMs) { ignored += 1; return; }
    lastPress[b.id] = now;
    if (!b.disabled) b.click();
  });
  window.consoleDebug = () => ({ignored, asking: !$("ask").hidden});

  // The red bar docs/staff.md promises while the server is away (restart, network cut); gone once back.
  const offline = (down) => { $("offline").hidden = !down; };
  live("/api/events", {
    open: () => { offline(false); soon(); },
    state: () => { offline(false); soon(); },
    queue: (ev) => {
      if (ev.counter_id === counterId || ev.kind === "issue" || ev.kind === "transfer" ||
          (state && state.counter.services.includes(ev.service))) soon();
    },
    error: () => offline(true),
  }, $("live"));
  refresh();
  setInterval(refresh, 30000);  // waiting times tick on even without events
})();
