// Shared helpers of the staff pages: JSON API calls with the CSRF token, live updates with reconnect.
"use strict";
let CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
const TEXTS = JSON.parse((document.getElementById("texts") || {}).textContent || "{}");

// Has the user typed anything on this page that a reload would lose?
function typedSomething() {
  return [...document.querySelectorAll("form input, form textarea, form select")].some((f) =>
    f.type === "hidden" || f.type === "password" || f.disabled ? false
      : f.type === "checkbox" || f.type === "radio" ? f.checked !== f.defaultChecked
        : f.tagName === "SELECT" ? f.selectedIndex !== Math.max(0, [...f.options].findIndex((o) => o.defaultSelected))
          : f.value !== f.defaultValue);
}

// The session's CSRF token as the server has it now (after a login in another tab the old one is refused).
async function freshCsrf() {
  try {
    const r = await fetch(location.pathname, {credentials: "same-origin"});
    const m = (await r.text()).match(/<meta name="csrf-token" content="([^"]+)"/);
    if (r.ok && m) { CSRF = m[1]; return true; }
  } catch (e) { /* the server is away: the caller reports the first error */ }
  return false;
}

async function api(method, url, body, retried) {
  const opts = {method, headers: {"Accept": "application/json", "X-CSRF-Token": CSRF}, credentials: "same-origin"};
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const r = await fetch(url, opts);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    if (r.status === 403 && data && data.error === "CsrfFailed" && !retried && await freshCsrf()) {
      return api(method, url, body, true);
    }
    let text = (data && (data.text || data.message)) || r.statusText;
    if (r.status === 401) {
      // Session ended: with nothing typed, go and log in (and come back); with typed values, stay so they
      // are not lost, and say how to carry on (log in again in another tab, then save again).
      const ended = (document.querySelector('meta[name="session-ended"]') || {}).content;
      if (!typedSomething()) location.href = "/login?next=" + encodeURIComponent(location.pathname);
      else if (ended) text = ended;
    }
    const err = new Error(text);
    err.status = r.status; err.data = data; throw err;
  }
  return data;
}

// EventSource with a visible connection state. After ANY error (server down, a 503 when the server is
// full, a proxy cut) the stream is closed and opened again after 1, 2, 4 … 30 s with jitter; the
// browser's own retry gives up after a 503, which left pages dead.
function live(url, handlers, liveEl) {
  let backoff = 1000;
  const handle = {es: null, reconnects: 0};
  function open() {
    const es = handle.es = new EventSource(url);
    es.onopen = () => { if (liveEl) liveEl.classList.add("on"); if (handlers.open) handlers.open(); };
    es.onerror = () => {
      es.close();
      if (liveEl) liveEl.classList.remove("on");
      if (handlers.error) handlers.error();
      handle.reconnects += 1;
      const wait = backoff + Math.random() * backoff * 0.3;
      backoff = Math.min(backoff * 2, 30000);
      setTimeout(open, wait);
    };
    for (const [name, fn] of Object.entries(handlers)) {
      if (name !== "error" && name !== "open") es.addEventListener(name, (e) => {
        backoff = 1000;
        if (liveEl) liveEl.classList.add("on");
        fn(JSON.parse(e.data));
      });
    }
  }
  open();
  return handle;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}
