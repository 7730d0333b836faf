// Helpline workspace: the live parts of every page (no build step; no inline script).
// One event stream per page (/live/events, following the ticket a ticket page shows); its
// messages become events on <body> that htmx regions listen to ("live-work", "live-presence",
// "live-viewers", "live-ticket"). While the page is open it sends heartbeats for the person's
// agent, and sets them away after the configured minutes without keyboard or mouse activity.
(() => {
  "use strict";
  const presence = document.getElementById("presence");
  if (!presence || !window.EventSource) return;
  const ticketRegion = document.querySelector("[data-live-ticket]");
  const ticket = ticketRegion ? ticketRegion.dataset.liveTicket : "";
  const idleMs = Number(presence.dataset.idleMinutes || 10) * 60000;
  const heartbeatMs = Number(presence.dataset.heartbeatSeconds || 60) * 1000;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (error) {
      return "";
    }
  }

  function post(path, fields) {
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: {"X-CSRF-Token": csrfToken(), "HX-Request": "true",
                "Content-Type": "application/x-www-form-urlencoded"},
      body: new URLSearchParams(fields || {}).toString(),
    }).catch(() => null);
  }

  function fire(name, detail) {
    document.body.dispatchEvent(new CustomEvent(name, {detail: detail, bubbles: true}));
  }

  function say(region, text, linkText) {
    if (!region) return;
    const line = document.createElement("p");
    line.textContent = text + " ";
    if (linkText) {
      const link = document.createElement("a");
      link.href = window.location.pathname + window.location.search;
      link.textContent = linkText;
      line.appendChild(link);
    }
    region.replaceChildren(line);
  }

  // -- the event stream ------------------------------------------------------------------
  const source = new EventSource("/live/events" + (ticket ? "?ticket=" + encodeURIComponent(ticket) : ""));
  source.addEventListener("ready", () => document.body.setAttribute("data-live", "connected"));
  source.addEventListener("work", (event) => {
    const data = JSON.parse(event.data);
    fire("live-work", data);
    // Regions marked data-live-refresh (with an id) are fetched again from this page's URL.
    document.querySelectorAll("[data-live-refresh][id]").forEach((region) => {
      if (!window.htmx) return;
      const id = "#" + CSS.escape(region.id);
      window.htmx.ajax("GET", window.location.pathname + window.location.search,
                       {source: region, target: id, select: id, swap: "outerHTML"});
    });
    const list = document.getElementById("live-work-notices");
    if (list && window.htmx && (data.kind === "assigned" || data.kind === "offered")) {
      const query = new URLSearchParams({kind: data.kind, ticket: data.ticket_id});
      window.htmx.ajax("GET", "/live/work/notice?" + query.toString(),
                       {target: list, swap: "afterbegin"});
    }
  });
  source.addEventListener("presence", (event) => fire("live-presence", JSON.parse(event.data)));
  source.addEventListener("viewers", () => fire("live-viewers"));
  source.addEventListener("ticket", (event) => {
    const data = JSON.parse(event.data);
    fire("live-ticket", data);
    say(document.getElementById("live-ticket-changes"),
        data.text + " since you opened this page.", "Reload to see it");
  });
  source.addEventListener("resync", () => { fire("live-work"); fire("live-viewers"); });
  window.addEventListener("pagehide", () => source.close());

  // -- heartbeats, idle away, typing --------------------------------------------------------
  let lastActivity = Date.now();
  let setAway = false;
  const active = () => { lastActivity = Date.now(); setAway = false; };
  ["keydown", "mousedown", "mousemove", "wheel", "touchstart"].forEach((name) =>
    document.addEventListener(name, active, {passive: true}));

  function currentPresence() {
    const select = document.getElementById("presence-select");
    return select ? select.value : "";
  }

  window.setInterval(() => {
    if (!currentPresence()) return;
    if (Date.now() - lastActivity < idleMs) post("/live/heartbeat");
  }, heartbeatMs);

  window.setInterval(() => {
    if (setAway || currentPresence() !== "available" || Date.now() - lastActivity < idleMs) return;
    setAway = true;
    if (window.htmx) {
      window.htmx.ajax("POST", "/live/presence", {source: presence, target: presence,
                                                  swap: "innerHTML",
                                                  values: {presence: "away", idle: "true"}});
    }
  }, Math.min(30000, idleMs));

  let lastTyping = 0;
  if (ticket) {
    document.addEventListener("input", (event) => {
      if (!(event.target instanceof HTMLTextAreaElement)) return;
      const now = Date.now();
      if (now - lastTyping < 5000) return;
      lastTyping = now;
      post("/live/tickets/" + encodeURIComponent(ticket) + "/typing");
    });
  }
})();
