"use strict";
// The dashboard's rollout view: each route's rollout state, current step, next step and the
// gate that holds it, from the admin API's routes answer (`rollout` on each entry). It reads
// the token the page keeps in sessionStorage and refreshes every 2 s; it shows nothing until
// an entry has a rollout. Text always goes through textContent (routes come from the file).
(() => {
  const TOKEN_KEY = "gateway.adminToken";
  const POLL_MS = 2000;
  const panel = document.getElementById("rollout-panel");
  const body = document.getElementById("rollout-body");
  if (!panel || !body) return;

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function stepText(rollout, entry) {
    const status = rollout.status;
    const steps = rollout.steps || [];
    if (!status) return "not started";
    if (status.state === "shadow") return "shadow (before " + (steps[0] ?? "?") + "%)";
    if (status.state === "done") return "done: new";
    const weight = entry.weight === null || entry.weight === undefined ? "" : " at " + entry.weight + "%";
    return "step " + status.step + " of " + steps.length + weight;
  }

  function nextText(rollout) {
    if (rollout.next_step === null || rollout.next_step === undefined) return "";
    const next = rollout.next_step === "new" ? "new" : rollout.next_step + "%";
    return rollout.next_needs_approval ? next + " (needs approval)" : next;
  }

  function holdText(status) {
    if (!status) return "";
    const gate = status.paused ? "paused" : (status.gate || status.decision);
    return gate + ": " + status.reason;
  }

  function render(routes) {
    const rows = routes.filter((entry) => entry.rollout);
    panel.hidden = rows.length === 0;
    if (!rows.length) return;
    const table = document.createElement("table");
    table.id = "rollout-table";
    const head = table.createTHead().insertRow();
    for (const title of ["route", "target", "state", "step", "next", "holds it / last decision", "since"]) {
      const th = document.createElement("th");
      th.textContent = title;
      head.appendChild(th);
    }
    const tbody = table.createTBody();
    for (const entry of rows) {
      const rollout = entry.rollout;
      const status = rollout.status;
      const tr = tbody.insertRow();
      tr.dataset.route = entry.path;
      const methods = entry.methods ? entry.methods.join(",") + " " : "";
      tr.append(
        cell(methods + entry.path),
        cell(entry.effective_target !== entry.target ? entry.target + " (now " + entry.effective_target + ")" : entry.target),
        cell(status ? status.state + (status.paused ? " (paused)" : "") : "not started", "rollout-state"),
        cell(stepText(rollout, entry)),
        cell(nextText(rollout)),
        cell(holdText(status), "rollout-reason"),
        cell(status ? status.since : ""),
      );
    }
    body.className = "";
    body.replaceChildren(table);
  }

  async function poll() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) {
      try {
        const response = await fetch("/_gateway/api/routes", {
          headers: { Authorization: "Bearer " + token },
          cache: "no-store",
        });
        if (response.ok) render((await response.json()).routes || []);
      } catch (error) {
        // The main view reports connection problems; this one keeps its last picture.
      }
    }
    setTimeout(poll, POLL_MS);
  }
  poll();
})();
