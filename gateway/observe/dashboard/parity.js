// The dashboard's parity view: readiness per route from the parity ledger
// (/_gateway/api/parity), with the differences grouped by signature and a few sample exchanges
// for each. Every figure comes from the ledger itself, so all workers (and all replicas sharing
// a PostgreSQL ledger) show the same. Paths, headers and values come from clients: they only
// ever reach the page through textContent and attribute values, never as HTML.
"use strict";
(() => {
  const URL_PATH = "/_gateway/api/parity";
  const POLL_MS = 10000;
  const TOKEN_KEY = "gateway.adminToken"; // where the main page keeps the token it was given
  const $ = (id) => document.getElementById(id);
  const open = new Set(); // routes whose details the user opened, kept across refreshes

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function when(seconds) {
    if (seconds === null || seconds === undefined) return "never";
    return new Date(seconds * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function ratio(route) {
    return route.match_ratio === null ? "-" : (route.match_ratio * 100).toFixed(2) + "%";
  }

  function tone(route) {
    if (route.match_ratio === null) return "";
    return route.match_ratio >= 0.99 ? "ok" : route.match_ratio >= 0.9 ? "err" : "fail";
  }

  function requestLine(request) {
    return `${request.method} ${request.path}${request.query ? "?" + request.query : ""}`;
  }

  function sample(item) {
    const headers = el("dl", { class: "kv mono" });
    for (const [name, value] of item.request.headers || []) {
      headers.append(el("dt", {}, name), el("dd", {}, value));
    }
    const box = el("div", { class: "parity-sample" },
      el("div", { class: "mono" }, requestLine(item.request)),
      el("div", { class: "muted" }, `${when(item.at)} · worker ${item.pid} · primary ${item.primary}`),
      headers);
    if (item.request.body) box.append(el("pre", { class: "mono" }, item.request.body));
    if ((item.differences || []).length) {
      const table = el("table", { class: "diff" },
        el("tr", {}, el("th", {}, "field"), el("th", {}, "kind"),
          el("th", {}, `primary (${item.primary})`), el("th", {}, "shadow")));
      for (const d of item.differences) {
        table.append(el("tr", {}, el("td", { class: "mono" }, d.field), el("td", {}, d.kind),
          el("td", { class: "mono" }, d.primary), el("td", { class: "mono" }, d.shadow)));
      }
      box.append(table);
    }
    return box;
  }

  function differences(route) {
    if (!route.differences.length) return el("div", { class: "muted" }, "No differences.");
    const table = el("table", { class: "parity-differences" },
      el("tr", {}, el("th", {}, "count"), el("th", {}, "outcome"), el("th", {}, "fields"),
        el("th", {}, "last seen")));
    for (const group of route.differences) {
      const fields = el("td", { class: "mono" });
      for (const field of group.fields) {
        fields.append(el("div", { "data-field": field }, `${field} (${group.kinds[field]})`));
      }
      const samples = el("details", {}, el("summary", {}, `${group.samples.length} samples`),
        ...group.samples.map(sample));
      fields.append(samples);
      table.append(el("tr", { "data-signature": group.signature },
        el("td", { class: "num" }, group.count), el("td", {}, group.outcome), fields,
        el("td", { class: "muted" }, when(group.last_seen))));
    }
    return table;
  }

  function routeView(route) {
    const details = el("details", { class: "parity-route", "data-route": route.route },
      el("summary", {},
        el("span", { class: "mono" }, route.route), " ",
        el("span", { class: "badge " + tone(route), "data-ratio": "" }, ratio(route)), " ",
        el("span", { class: "muted" },
          `${route.compared} compared · ${route.matched} matched (${route.noise} noise) · ` +
          `${route.mismatched} mismatched · ${route.timeouts} timeouts · ` +
          `${route.differences.length} signatures · last mismatch ${when(route.last_mismatch)} · ` +
          `entry changed ${when(route.entry_changed_at)}`)),
      differences(route));
    if (route.match_samples.length) {
      details.append(el("details", {}, el("summary", {}, `${route.match_samples.length} matching samples`),
        ...route.match_samples.map(sample)));
    }
    details.open = open.has(route.route);
    details.addEventListener("toggle", () => {
      if (details.open) open.add(route.route); else open.delete(route.route);
    });
    return details;
  }

  function render(body, data) {
    const routes = data.routes || [];
    if (!routes.length) {
      body.className = "empty";
      body.textContent = data.detail || "No shadow comparisons recorded yet.";
      return;
    }
    body.className = "";
    body.replaceChildren(el("div", { class: "muted" }, "ledger " + (data.ledger || "")),
      ...routes.map(routeView));
  }

  let shown = false;
  async function poll() {
    const body = $("parity-body");
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (body && token && !$("main").hidden) {
      try {
        const response = await fetch(URL_PATH, {
          headers: { Accept: "application/json", Authorization: "Bearer " + token },
          cache: "no-store", credentials: "omit",
        });
        const data = await response.json();
        if (response.ok) { render(body, data); shown = true; }
        else body.textContent = `The ledger could not be read: ${data.detail || response.status}`;
      } catch (error) {
        body.textContent = "The ledger could not be read: " + String(error.message || error);
      }
    }
    setTimeout(poll, shown ? POLL_MS : 2000); // soon after a login, then every 10 s
  }

  document.head.append(el("style", {}, `
    #parity-panel { margin-top: 12px; }
    .parity-route { border-top: 1px solid var(--line); padding: 6px 0; }
    .parity-route > summary { cursor: pointer; }
    .parity-differences { margin: 6px 0 0 16px; width: auto; }
    .parity-differences td { vertical-align: top; }
    .parity-sample { margin: 6px 0 6px 16px; padding-left: 8px; border-left: 2px solid var(--line); }
  `));
  poll();
})();
