// The hub's only script (the CSP allows no inline script): sortable tables and the print button.
document.querySelectorAll("table.sortable").forEach(function (t) {
  t.querySelectorAll("th").forEach(function (th, i) {
    // a header is a button: Tab reaches it, Enter or Space sorts (not only a mouse click)
    th.tabIndex = 0;
    th.setAttribute("role", "button");
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); th.click(); }
    });
    th.addEventListener("click", function () {
      var body = t.tBodies[0], rows = Array.from(body.rows), asc = th.dataset.asc !== "1";
      rows.sort(function (a, b) {
        var x = a.cells[i].dataset.v ?? a.cells[i].textContent, y = b.cells[i].dataset.v ?? b.cells[i].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y, "vi") : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
      t.querySelectorAll("th").forEach(function (h) { delete h.dataset.asc; h.removeAttribute("aria-sort"); });
      th.dataset.asc = asc ? "1" : "0";
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    });
  });
});
document.querySelectorAll("[data-print]").forEach(function (b) {
  b.addEventListener("click", function (e) { e.preventDefault(); window.print(); });
});
