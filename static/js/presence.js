/* Presence on a ticket page: join the ticket over the desk socket (again every 15 s, which
   renews our entry), say when we type a reply or a note, and show everyone else as avatars
   in the ticket header. The header is re-rendered by live refreshes, so the avatars are drawn
   again after every swap from the last state heard. */
(function () {
  "use strict";
  const page = document.querySelector("[data-ticket-number]");
  if (!page) return;
  const number = parseInt(page.dataset.ticketNumber, 10);
  const me = parseInt(page.dataset.me || "0", 10);
  const HEARTBEAT = 15000;
  const IDLE = 4000;
  let viewers = [];
  let typing = "";
  let idleTimer = null;

  function send(message) {
    const helpdesk = window.helpdesk;
    return Boolean(helpdesk && helpdesk.liveSend && helpdesk.liveSend(message));
  }

  function join() { send({ type: "presence.join", ticket: number }); }

  function setTyping(mode) {
    if (mode === typing) return;
    typing = mode;
    send({ type: "presence.typing", ticket: number, mode: mode });
  }

  function label(viewer) {
    if (viewer.typing === "note") return viewer.name + " is writing a note";
    if (viewer.typing === "reply") return viewer.name + " is writing a reply";
    return viewer.name + " is viewing";
  }

  function draw() {
    const box = document.getElementById("ticket-presence");
    if (!box) return;
    const others = viewers.filter(function (v) { return v.id !== me; });
    const list = box.querySelector("[data-presence-list]");
    const status = box.querySelector("[data-presence-status]");
    list.replaceChildren();
    others.forEach(function (viewer) {
      const item = document.createElement("li");
      item.className = "presence-person" + (viewer.typing ? " is-typing typing-" + viewer.typing : "");
      item.title = label(viewer);
      item.dataset.presenceUser = String(viewer.id);
      const avatar = document.createElement("span");
      avatar.className = "avatar";
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = viewer.initials;
      const text = document.createElement("span");
      text.className = "visually-hidden";
      text.textContent = label(viewer);
      item.append(avatar, text);
      list.append(item);
    });
    const typists = others.filter(function (v) { return v.typing; });
    status.textContent = typists.length ? typists.map(label).join(", ") + "…" : "";
    box.hidden = others.length === 0;
  }

  document.addEventListener("helpdesk:live", function (event) {
    const data = event.detail;
    if (data.type === "presence" && data.ticket === number) {
      viewers = Array.isArray(data.viewers) ? data.viewers : [];
      draw();
    }
  });
  document.addEventListener("helpdesk:live-open", function () {
    typing = "";
    join();
  });
  document.addEventListener("htmx:afterSettle", draw);
  setInterval(join, HEARTBEAT);
  join(); // the socket may already be open

  document.addEventListener("input", function (event) {
    const field = event.target;
    if (!(field instanceof HTMLTextAreaElement)) return;
    const mode = field.id === "note-text" ? "note" : field.id === "reply-text" ? "reply" : "";
    if (!mode) return;
    setTyping(field.value.trim() ? mode : "");
    clearTimeout(idleTimer);
    idleTimer = setTimeout(function () { setTyping(""); }, IDLE);
  });
  document.addEventListener("submit", function () { setTyping(""); });
  window.addEventListener("pagehide", function () { send({ type: "presence.leave", ticket: number }); });
})();
