// The guide robots' strip on the console and admin pages (issue 15): follows /api/robot/events and
// shows a red e-stop banner (with Reset for admins), each robot's state or fault, and recent alerts.
"use strict";
(function () {
  const strip = document.getElementById("robot-strip");
  if (!strip) return;
  const T = JSON.parse((document.getElementById("robot-texts") || {}).textContent || "{}");
  const CSRF_TOKEN = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const isAdmin = strip.dataset.admin === "1";
  const lang = strip.dataset.lang || "vi";
  let lastCommand = null;  // the Reset this page sent: {id, robot}
  let lastState = null;    // the newest state from the server

  function tr(key, vars) {
    let s = T[key] || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(v == null ? "" : String(v));
    return s;
  }
  function node(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function reasonText(r) {
    const key = "robot_reason_" + r.reason;
    return T[key] ? T[key] : tr("robot_reason_link", {detail: r.reason});
  }
  function answerText(cmd) {
    if (!cmd || !cmd.result) return tr("robot_reset_sent");
    if (cmd.result === "expired") return tr("robot_reset_expired");
    if (cmd.result === "NO_LINK") return tr("robot_reset_no_link");
    if (cmd.result.indexOf("DENIED") >= 0) return tr("robot_reset_denied");
    return tr("robot_reset_answer", {answer: cmd.result});
  }
  function time(at) {
    return new Date(at * 1000).toLocaleTimeString(lang === "en" ? "en-GB" : "vi-VN", {hour: "2-digit", minute: "2-digit"});
  }

  async function reset(robot, answerEl) {
    answerEl.textContent = tr("robot_reset_sent");
    try {
      const r = await fetch("/api/robot/reset", {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": CSRF_TOKEN},
        body: JSON.stringify({robot})});
      const data = await r.json();
      if (!r.ok) throw new Error(data.message || r.statusText);
      lastCommand = {id: data.command_id, robot};
      // The robot's answer may have arrived before this response: show it from the newest state.
      if (lastState) render(lastState);
    } catch (e) {
      answerEl.textContent = String(e.message || e);
    }
  }

  function estopBanner(r, state) {
    const box = node("div", "robot-estop");
    box.setAttribute("role", "alert");
    box.dataset.robot = r.robot;
    box.append(node("span", "robot-estop-text", tr("robot_estop", {robot: r.robot})));
    const answer = node("span", "robot-answer");
    if (isAdmin) {
      const b = node("button", "robot-reset", tr("robot_reset"));
      b.type = "button";
      b.addEventListener("click", () => reset(r.robot, answer));
      box.append(b);
    }
    if (lastCommand && lastCommand.robot === r.robot) {
      answer.textContent = answerText((state.commands || []).find((c) => c.id === lastCommand.id));
    }
    box.append(answer);
    return box;
  }

  function robotLine(r) {
    if (r.available) {
      const s = tr("robot_ready", {robot: r.robot}) + (r.battery != null ? " · " + tr("robot_battery_level", {battery: r.battery}) : "");
      return node("span", "robot-ok", s);
    }
    if (r.reason === "LOW_BATTERY") return node("span", "robot-fault", tr("robot_battery", {robot: r.robot, battery: r.battery}));
    return node("span", "robot-fault", tr("robot_fault", {robot: r.robot, reason: reasonText(r)}));
  }

  function render(state) {
    lastState = state;
    strip.replaceChildren();
    const robots = state.robots || [];
    for (const r of robots) if (r.estop) strip.append(estopBanner(r, state));
    const line = node("div", "robot-line");
    line.append(node("b", null, tr("robot_strip") + ":"));
    for (const r of robots) if (!r.estop) line.append(robotLine(r));
    if (robots.some((r) => !r.estop)) strip.append(line);
    const alerts = (state.alerts || []).slice(0, 3);
    if (alerts.length) {
      const box = node("div", "robot-alerts");
      box.append(node("span", null, tr("robot_alerts") + ":"));
      const ul = node("ul");
      for (const a of alerts) {
        const name = T["robot_alert_" + a.alert] || a.alert;
        ul.append(node("li", "robot-alert", `${time(a.at)} · ${a.robot} · ${name}${a.detail ? " — " + a.detail : ""}`));
      }
      box.append(ul);
      strip.append(box);
    }
    strip.hidden = !robots.length && !alerts.length;
    strip.classList.toggle("estop", !!state.estop);
  }

  // Reconnects after any error with back-off (1, 2, 4 … 30 s), like the other live pages.
  let backoff = 1000;
  function open() {
    const es = new EventSource("/api/robot/events");
    es.addEventListener("state", (e) => { backoff = 1000; render(JSON.parse(e.data)); });
    es.onerror = () => {
      es.close();
      setTimeout(open, backoff + Math.random() * backoff * 0.3);
      backoff = Math.min(backoff * 2, 30000);
    };
  }
  open();
})();
