// The public ticket status page: state, people ahead, estimate, counter when called; rating once served.
"use strict";
(function () {
  const root = document.getElementById("ticket");
  const token = root.dataset.token;
  const lang = root.dataset.lang;
  const $ = (id) => document.getElementById(id);

  function render(s) {
    $("t-code").textContent = s.code;
    $("t-service").textContent = lang === "en" ? s.service_name_en : s.service_name_vi;
    $("t-state").textContent = TEXTS["state_" + s.state] || s.state;
    root.dataset.state = s.state;
    const waiting = s.state === "waiting";
    document.querySelectorAll(".w").forEach((e) => { e.hidden = !waiting; });
    $("t-ahead").textContent = s.ahead;
    $("t-wait").textContent = (lang === "en" ? s.wait_text_en : s.wait_text_vi) || "";
    const called = !!s.counter && (s.state === "called" || s.state === "serving");
    $("t-called").hidden = !called;
    if (called) $("t-counter").textContent = lang === "en" ? s.counter.name_en : s.counter.name_vi;
    $("t-rate").hidden = !s.can_rate;
    $("t-thanks").hidden = !(s.rating);
    $("t-served").hidden = s.state !== "served";
    // a no-show, cancelled or expired number: say what to do now, not only the state's name
    $("t-ended").hidden = !["no_show", "cancelled", "expired"].includes(s.state);
    $("t-updated").textContent = new Date().toLocaleTimeString(lang === "en" ? "en-GB" : "vi-VN",
                                                               {timeZone: root.dataset.tz || undefined});
    if (called && navigator.vibrate) navigator.vibrate(300);
  }

  async function poll() {
    const r = await fetch(`/api/public/tickets/${encodeURIComponent(token)}`);
    if (r.ok) render(await r.json()); else if (r.status === 404) $("t-state").textContent = TEXTS.ticket_unknown;
  }

  document.querySelectorAll("[data-rating]").forEach((b) => b.addEventListener("click", async () => {
    try {
      await api("POST", `/api/public/tickets/${encodeURIComponent(token)}/rating`, {rating: Number(b.dataset.rating)});
    } catch (e) { /* already rated or not served: the refresh shows the truth */ }
    poll();
  }));

  // the red bar while the server is away (docs/staff.md: every page shows one), gone once back
  const offline = (down) => { $("offline").hidden = !down; };
  live(`/api/public/tickets/${encodeURIComponent(token)}/events`, {
    open: () => offline(false),
    state: (s) => { offline(false); render(s); },
    error: () => offline(true),
  }, $("live"));
  poll();
  setInterval(poll, 60000);  // a safety net if live updates are blocked by a proxy
})();
