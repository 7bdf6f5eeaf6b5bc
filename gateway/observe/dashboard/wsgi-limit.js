// One figure: the legacy bridge's concurrency limit (gateway_wsgi_concurrency_limit, summed
// over the workers), with its last five minutes. With adaptive concurrency it follows the
// legacy app: low while its calls compute (more threads would only fight over the GIL), up
// to GATEWAY_WSGI_THREADS while they wait on I/O. Its own poll, so the main view is untouched.
(() => {
  "use strict";
  const box = document.getElementById("wsgi-limit");
  if (!box) return;
  const TOKEN_KEY = "gateway.adminToken"; // where the page keeps the token for the tab
  const POLL_MS = 2000;
  const KEEP = 150; // five minutes of polls
  const SVG = "http://www.w3.org/2000/svg";
  const history = [];

  async function poll() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) {
      try {
        const response = await fetch("/_gateway/api/wsgi", {
          headers: { Accept: "application/json", Authorization: "Bearer " + token },
          cache: "no-store",
          credentials: "omit",
        });
        if (response.ok) render((await response.json()).concurrency_limit);
      } catch (_) {
        // The main view already says when the gateway cannot be reached.
      }
    }
    setTimeout(poll, POLL_MS);
  }

  function sparkline(values) {
    const width = 120, height = 24, top = Math.max(...values, 1);
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("aria-hidden", "true");
    const line = document.createElementNS(SVG, "polyline");
    const step = values.length > 1 ? width / (KEEP - 1) : 0;
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`);
    line.setAttribute("points", points.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "currentColor");
    svg.append(line);
    return svg;
  }

  function render(limit) {
    if (limit === null || limit === undefined) return;
    history.push(limit);
    if (history.length > KEEP) history.shift();
    const card = document.createElement("div");
    card.className = "card";
    card.dataset.card = "wsgi-limit";
    const label = document.createElement("div");
    label.className = "label";
    label.textContent = "WSGI concurrency limit";
    const value = document.createElement("div");
    value.className = "value num";
    value.textContent = String(Math.round(limit));
    const range = document.createElement("small");
    range.textContent = ` legacy calls at once (5 min: ${Math.min(...history)}-${Math.max(...history)})`;
    value.append(range);
    card.append(label, value, sparkline(history));
    box.replaceChildren(card);
    box.hidden = false;
  }

  poll();
})();
