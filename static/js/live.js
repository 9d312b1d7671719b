/* Live updates for agents: one websocket to /ws/desk/. An event names a ticket number only;
   each part of the page that shows it re-fetches itself through the normal, permission-checked
   views (elements marked data-live-refresh, optionally limited to data-live-ticket="N"). */
(function () {
  "use strict";
  const indicator = document.getElementById("live-status");
  const MAX_DELAY = 30000;
  let delay = 1000;
  let everConnected = false;
  let pingTimer = null;
  const timers = {};
  let current = null;

  // Other scripts (presence, the bell) speak over this one socket: they send with
  // helpdesk.liveSend and hear every frame as a "helpdesk:live" event on the document.
  function send(message) {
    if (current && current.readyState === WebSocket.OPEN) {
      current.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  function setState(state, label) {
    if (!indicator) return;
    indicator.dataset.state = state;
    const text = indicator.querySelector(".live-label");
    if (text) text.textContent = label;
    indicator.title = "Live updates: " + label.toLowerCase();
  }

  function editingInside(id) {
    const active = document.activeElement;
    return active instanceof Element && active.closest("#ticket-fields, #ticket-header") !== null &&
      id === "ticket-live";
  }

  function fire(id) {
    const el = document.getElementById(id);
    if (!el || !window.htmx) return;
    if (editingInside(id)) {
      // Re-rendering would throw away what the agent is typing: refresh once they leave the field.
      document.activeElement.addEventListener("blur", function () { schedule(id); }, { once: true });
      return;
    }
    window.htmx.trigger(el, "live-update");
  }

  function schedule(id) {
    // Bursts of events (a reply changes status, assignee and thread) become one refresh.
    clearTimeout(timers[id]);
    timers[id] = setTimeout(function () { fire(id); }, 250);
  }

  function refresh(number) {
    document.querySelectorAll("[data-live-refresh][id]").forEach(function (el) {
      const only = el.dataset.liveTicket;
      if (number !== null && only && String(number) !== only) return;
      schedule(el.id);
    });
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    let socket;
    try {
      socket = new WebSocket(scheme + "//" + window.location.host + "/ws/desk/");
    } catch (err) {
      retry();
      return;
    }
    current = socket;
    socket.addEventListener("open", function () {
      delay = 1000;
      document.dispatchEvent(new CustomEvent("helpdesk:live-open"));
      setState("live", "Live");
      if (everConnected) refresh(null); // we may have missed events while away
      everConnected = true;
      clearInterval(pingTimer);
      pingTimer = setInterval(function () {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
      }, 25000);
    });
    socket.addEventListener("message", function (event) {
      let data;
      try { data = JSON.parse(event.data); } catch (err) { return; }
      if (data && data.type === "ticket.changed") refresh(data.number);
      if (data && typeof data.type === "string") {
        document.dispatchEvent(new CustomEvent("helpdesk:live", { detail: data }));
      }
    });
    socket.addEventListener("close", function (event) {
      clearInterval(pingTimer);
      if (event.code === 4403) { setState("offline", "Off"); return; } // not an agent: never retry
      setState("offline", "Reconnecting");
      retry();
    });
  }

  function retry() {
    const wait = delay + Math.floor(Math.random() * 500);
    delay = Math.min(delay * 2, MAX_DELAY);
    setTimeout(connect, wait);
  }

  window.helpdesk = window.helpdesk || {};
  window.helpdesk.liveRefresh = refresh;
  window.helpdesk.liveSend = send;
  connect();
})();
