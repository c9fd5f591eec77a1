// Administration forms: each <form data-api data-method> is sent as JSON with the CSRF header.
"use strict";
(function () {
  const msg = document.getElementById("admin-message");
  function value(input) {
    const t = input.dataset.type;
    if (t === "bool") return input.type === "checkbox" ? input.checked : input.value === "on";
    if (t === "number") return input.value === "" ? null : Number(input.value);
    if (t === "list") return input.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (t === "intlist") return input.value.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
    return input.value;
  }
  document.querySelectorAll("form[data-api]").forEach((form) => {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      let url = form.dataset.api;
      let body = {};
      const outer = {};  // inputs marked data-outer stay beside the wrapped object
      for (const input of form.querySelectorAll("input[name], select[name]")) {
        if (input.name === "csrf_token" || input.disabled) continue;
        if (input.hasAttribute("data-path")) { url = url.replace(`{${input.name}}`, encodeURIComponent(input.value)); continue; }
        if (input.hasAttribute("data-optional") && input.value === "") continue;
        (input.hasAttribute("data-outer") ? outer : body)[input.name] = value(input);
      }
      if (form.dataset.wrap) body = {[form.dataset.wrap]: body};
      Object.assign(body, outer);
      try {
        const r = await api(form.dataset.method || "POST", url, body);
        msg.textContent = TEXTS.saved + (r && r.summary ? " " + r.summary : "") + (r && r.token ? " Token: " + r.token : "");
        msg.className = "message flash-ok";
        // Only a new row needs the page again; a saved row stays as typed, so other rows' unsaved edits survive.
        if (!(r && r.token) && (form.dataset.method || "POST") === "POST") setTimeout(() => location.reload(), 700);
      } catch (err) {
        msg.textContent = `${TEXTS.error}: ${err.message}`;
        msg.className = "message error";
      }
    });
  });

  // The counters page: every counter in one form, services as checkboxes, add and delete, ONE save
  // (PUT /api/admin/counters); nothing is reloaded before the save, so no row's edits are lost.
  const cform = document.getElementById("counters-form");
  if (cform) {
    let nextId = Number(cform.dataset.nextId);
    document.getElementById("add-counter").addEventListener("click", () => {
      const node = document.getElementById("new-counter").content.firstElementChild.cloneNode(true);
      node.dataset.id = String(nextId);
      node.querySelector(".new-id").textContent = String(nextId);
      nextId += 1;
      node.querySelector(".remove-new").addEventListener("click", () => node.remove());
      document.getElementById("counter-rows").append(node);
      node.querySelector("input[name=name_vi]").focus();
    });
    cform.addEventListener("submit", async (e) => {
      e.preventDefault();
      const counters = [], del = [];
      for (const row of cform.querySelectorAll(".counter-row")) {
        const id = Number(row.dataset.id);
        const get = (n) => row.querySelector(`[name=${n}]`);
        if (get("delete") && get("delete").checked) { del.push(id); continue; }
        counters.push({id, name_vi: get("name_vi").value.trim(), name_en: get("name_en").value.trim(),
          services: [...row.querySelectorAll("input[name=services]:checked")].map((x) => x.value),
          waypoint: get("waypoint").value, state: get("state").value});
      }
      try {
        await api("PUT", "/api/admin/counters", {counters, delete: del});
        msg.textContent = TEXTS.saved;
        msg.className = "message flash-ok";
        setTimeout(() => location.reload(), 700);
      } catch (err) {
        msg.textContent = `${TEXTS.error}: ${err.message}`;
        msg.className = "message error";
      }
    });
  }
})();
