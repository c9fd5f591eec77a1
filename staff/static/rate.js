// The counter's rating tablet: shows the last served ticket and takes one rating for it.
"use strict";
(function () {
  const root = document.getElementById("rate");
  const counterId = Number(root.dataset.counter);
  const $ = (id) => document.getElementById(id);
  let current = null;

  async function refresh() {
    const s = await api("GET", `/api/counters/${counterId}/queue`);
    const ls = s.last_served;
    const ratable = ls && !ls.rating;
    if (ratable && (!current || current.id !== ls.id)) { $("r-thanks").hidden = true; }
    current = ratable ? ls : null;
    $("r-code").textContent = ls ? ls.code : "—";
    document.querySelectorAll("[data-rating]").forEach((b) => { b.disabled = !ratable; });
    $("r-wait").hidden = !!ratable;
  }
  document.querySelectorAll("[data-rating]").forEach((b) => b.addEventListener("click", async () => {
    if (!current) return;
    try { await api("POST", `/api/counters/${counterId}/rating`, {rating: Number(b.dataset.rating)}); $("r-thanks").hidden = false; }
    catch (e) { /* shown by the refresh */ }
    refresh();
  }));
  live("/api/events", {queue: (ev) => { if (ev.counter_id === counterId) refresh(); }});
  refresh();
})();
