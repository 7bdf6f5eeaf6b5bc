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

  // What the last decision was judged on, in a line: enough to see why it aborted.
  function figuresText(figures) {
    if (!figures) return "";
    const parts = [];
    const ms = (v) => (v * 1000).toFixed(1) + " ms";
    if (figures.new_requests !== undefined) {
      parts.push(`new ${figures.new_requests} answers, ${figures.new_errors ?? 0} 5xx`);
    }
    if (figures.legacy_requests !== undefined) parts.push(`legacy ${figures.legacy_requests}`);
    if (figures.new_p99 !== undefined && figures.legacy_p99 !== undefined) {
      const q = figures.latency_quantile ? "p" + +(figures.latency_quantile * 100).toPrecision(3) : "p99";
      parts.push(`${q} ${ms(figures.new_p99)} new vs ${ms(figures.legacy_p99)} legacy`);
    }
    if (figures.match_ratio !== undefined) parts.push(`match ${(figures.match_ratio * 100).toFixed(1)}% of ${figures.compared}`);
    if (figures.guard_trips) parts.push(`guard trips ${figures.guard_trips}`);
    return parts.join(" · ");
  }

  // The buttons that fit where the rollout stands.
  function actionsFor(rollout) {
    const status = rollout.status;
    if (!status) return [];
    if (status.state === "done") return [];
    if (status.state === "aborted") return ["resume"];
    const shown = [];
    if (status.state === "awaiting_approval" || rollout.next_needs_approval) shown.push("approve");
    shown.push(status.paused ? "resume" : "pause", "abort");
    return shown;
  }

  function render(routes) {
    const rows = routes.filter((entry) => entry.rollout);
    panel.hidden = rows.length === 0;
    if (!rows.length) return;
    const table = document.createElement("table");
    table.id = "rollout-table";
    const head = table.createTHead().insertRow();
    for (const title of ["route", "target", "state", "step", "next", "holds it / last decision", "since", "act"]) {
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
        cell(status ? since(status.since) : ""),
      );
      const figures = figuresText(status && status.figures);
      if (figures) {
        const line = document.createElement("div");
        line.className = "figures";
        line.textContent = figures;
        tr.cells[5].appendChild(line);
      }
      const act = document.createElement("td");
      act.className = "actions";
      for (const action of actionsFor(rollout)) {
        act.appendChild(window.GatewayActions.button(action, entry.path, entry.methods, refresh));
      }
      tr.appendChild(act);
    }
    body.className = "";
    body.replaceChildren(table);
  }

  function since(iso) {
    const when = new Date(iso);
    if (isNaN(when)) return iso;
    const pad = (n) => String(n).padStart(2, "0");
    return `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`;
  }

  async function load() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return;
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
  const refresh = () => { load(); };

  async function poll() {
    await load();
    setTimeout(poll, POLL_MS);
  }
  poll();
})();
