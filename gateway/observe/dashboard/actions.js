"use strict";
// The dashboard's buttons: a rollout's approve, pause, resume and abort, and a guard's clear.
// Each asks for confirmation, then posts to the admin API with the token the page keeps in
// sessionStorage (actions need the operator token, GATEWAY_ADMIN_TOKEN: the read token is
// refused with 403, and the message says so). Each is an edit of the routes file, so every
// worker and replica sees it once it reloads the file.
(() => {
  const TOKEN_KEY = "gateway.adminToken";
  const WHAT = {
    approve: "let it enter its next step",
    pause: "hold it at its current step",
    resume: "go on (after an abort: start again at the first step)",
    abort: "send it back to legacy and stop its rollout",
    clear: "end the guard's rollback: every gateway tries the new side again",
  };

  async function run(action, route, methods, onDone) {
    const method = methods && methods.length ? methods[0] : null;
    const label = (methods && methods.length ? methods.join(",") + " " : "") + route;
    if (!window.confirm(`${action} ${label}: ${WHAT[action]}?`)) return;
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    let message;
    try {
      const response = await fetch("/_gateway/api/rollout/" + action, {
        method: "POST", headers, cache: "no-store", credentials: "omit",
        body: JSON.stringify({ route, method, reason: "from the dashboard" }),
      });
      const body = await response.json().catch(() => null);
      message = response.ok
        ? `${action} ${label}: done` + (body && body.status ? ` (${body.status.state})` : "")
        : `${action} ${label} refused: ${(body && body.detail) || "HTTP " + response.status}`;
      show(message, !response.ok);
    } catch (error) {
      show(`${action} ${label} failed: ${error.message || error}`, true);
    }
    if (onDone) onDone();
  }

  function show(message, bad) {
    const box = document.getElementById("action-result");
    if (!box) return;
    box.textContent = message;
    box.className = "action-result " + (bad ? "bad" : "good");
    box.hidden = false;
  }

  function button(action, route, methods, onDone) {
    const node = document.createElement("button");
    node.type = "button";
    node.className = "act " + action;
    node.dataset.action = action;
    node.textContent = action;
    node.title = WHAT[action];
    node.addEventListener("click", () => run(action, route, methods, onDone));
    return node;
  }

  window.GatewayActions = { run, button };
})();
