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
        if (!(r && r.token)) setTimeout(() => location.reload(), 700);
      } catch (err) {
        msg.textContent = `${TEXTS.error}: ${err.message}`;
        msg.className = "message error";
      }
    });
  });
})();
