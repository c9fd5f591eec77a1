// Shared helpers of the staff pages: JSON API calls with the CSRF token, live updates with reconnect.
"use strict";
const CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
const TEXTS = JSON.parse((document.getElementById("texts") || {}).textContent || "{}");

async function api(method, url, body) {
  const opts = {method, headers: {"Accept": "application/json", "X-CSRF-Token": CSRF}, credentials: "same-origin"};
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const r = await fetch(url, opts);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); }
    const err = new Error((data && data.message) || r.statusText);
    err.status = r.status; err.data = data; throw err;
  }
  return data;
}

// EventSource with a visible connection state; the browser reconnects by itself.
function live(url, handlers, liveEl) {
  const es = new EventSource(url);
  es.onopen = () => { if (liveEl) liveEl.classList.add("on"); };
  es.onerror = () => { if (liveEl) liveEl.classList.remove("on"); if (handlers.error) handlers.error(); };
  for (const [name, fn] of Object.entries(handlers)) {
    if (name !== "error") es.addEventListener(name, (e) => { if (liveEl) liveEl.classList.add("on"); fn(JSON.parse(e.data)); });
  }
  return es;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}
