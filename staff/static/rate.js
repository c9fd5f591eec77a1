// The counter's rating tablet: the citizen scans their ticket's QR code (a scanner types its URL) and
// gives one rating. Only the ticket's holder can rate: staff screens never show the ticket's token.
"use strict";
(function () {
  const root = document.getElementById("rate");
  const counterId = Number(root.dataset.counter);
  const $ = (id) => document.getElementById(id);
  let last = null;

  async function refresh() {
    const s = await api("GET", `/api/counters/${counterId}/queue`);
    last = s.last_served;
    $("r-code").textContent = last ? last.code : "—";
    update();
  }
  function update() {
    const ready = !!(last && !last.rating && $("r-ticket").value.trim().length >= 8);
    document.querySelectorAll("[data-rating]").forEach((b) => { b.disabled = !ready; });
    $("r-wait").hidden = ready;
  }
  $("r-ticket").addEventListener("input", () => { $("r-thanks").hidden = true; $("r-error").textContent = ""; update(); });
  document.querySelectorAll("[data-rating]").forEach((b) => b.addEventListener("click", async () => {
    try {
      await api("POST", `/api/counters/${counterId}/rating`, {rating: Number(b.dataset.rating), ticket: $("r-ticket").value});
      $("r-thanks").hidden = false;
    } catch (e) { $("r-error").textContent = e.message; }
    $("r-ticket").value = "";
    refresh();
  }));
  live("/api/events", {queue: (ev) => { if (ev.counter_id === counterId) refresh(); }});
  refresh();
})();
