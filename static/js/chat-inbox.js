/* The agents' live chat inbox. One websocket (/ws/chat/agent/) does three things: it keeps
   this agent "online" for visitors (a ping every 20 s), it streams the lines and typing of the
   chat open on screen (watch/unwatch), and it says when any ticket this agent sees changed,
   whereupon the list re-fetches itself through the normal, permission-checked view. Replies go
   out over the same socket. */
(function () {
  "use strict";
  const inbox = document.getElementById("chat-inbox");
  if (!inbox) return;
  const pane = document.getElementById("chat-pane");
  const list = document.getElementById("chat-list");
  const indicator = document.getElementById("chat-socket");
  const baseTitle = document.title;
  let socket = null;
  let delay = 1000;
  let pingTimer = null;
  let listTimer = null;
  let typingTimer = null;
  let typingSent = 0;
  let watched = null;

  function setState(state, label) {
    indicator.dataset.state = state;
    indicator.textContent = label;
  }

  function send(frame) {
    if (socket && socket.readyState === 1) {
      socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + window.location.host + "/ws/chat/agent/");
    socket.addEventListener("open", function () {
      delay = 1000;
      setState("open", "Online for visitors");
      clearInterval(pingTimer);
      pingTimer = setInterval(function () { send({ type: "ping" }); }, 20000);
      const conv = currentConversation();
      if (conv) watch(conv);  // after a reconnect: replay what was missed
      refreshList();
    });
    socket.addEventListener("close", function () {
      clearInterval(pingTimer);
      setState("closed", "Offline — reconnecting");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
    socket.addEventListener("message", function (ev) {
      let data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      const handler = HANDLERS[data.type];
      if (handler) handler(data);
    });
  }

  function currentConversation() {
    const conv = document.getElementById("chat-conv");
    if (!conv) return null;
    return { id: Number(conv.dataset.conversation), lastSeq: lastSeq() };
  }

  function lastSeq() {
    let max = 0;
    document.querySelectorAll("#chat-lines [data-seq]").forEach(function (li) {
      max = Math.max(max, Number(li.dataset.seq));
    });
    return max;
  }

  function watch(conv) {
    if (watched && watched !== conv.id) send({ type: "unwatch", conversation: watched });
    watched = conv.id;
    send({ type: "watch", conversation: conv.id, last_seq: conv.lastSeq });
  }

  function refreshList() {
    clearTimeout(listTimer);
    listTimer = setTimeout(function () {
      if (window.htmx) window.htmx.trigger(list, "refresh");
    }, 250);
  }

  function loadPane(id) {
    if (!window.htmx) return;
    window.htmx.ajax("GET", inbox.dataset.conversationUrl + id + "/", { target: pane, swap: "innerHTML" });
  }

  // Whatever re-renders the open chat (accept, transfer, a colleague's change) keeps the reply
  // the agent is typing: taken at the moment of the swap, put back right after it.
  let draft = null;
  document.body.addEventListener("htmx:beforeSwap", function (ev) {
    if (ev.detail.target !== pane) return;
    const box = document.getElementById("chat-reply-text");
    const conv = currentConversation();
    draft = box && conv ? { id: conv.id, text: box.value, focused: document.activeElement === box } : null;
  });

  const HANDLERS = {
    "inbox.changed": refreshList,
    history: function (data) {
      if (!watched || data.conversation !== watched) return;
      data.lines.forEach(addLine);
    },
    message: function (line) {
      if (line.conversation === watched) addLine(line);
    },
    status: function (data) {
      refreshList();
      const conv = document.getElementById("chat-conv");
      const agentName = data.agent ? data.agent.name : "";
      if (data.conversation !== watched || !conv) return;
      if (conv.dataset.status === data.status && (conv.dataset.agent || "") === agentName) return;
      loadPane(watched);
    },
    typing: function (data) {
      if (data.conversation !== watched) return;
      const el = document.getElementById("chat-typing");
      if (!el) return;
      el.hidden = !data.on;
      clearTimeout(typingTimer);
      if (data.on) typingTimer = setTimeout(function () { el.hidden = true; }, 6000);
    },
    error: function (data) { showError(data.detail || "That did not work (" + data.code + ")."); },
    ack: function () {},
    pong: function () {},
  };

  function addLine(line) {
    const lines = document.getElementById("chat-lines");
    if (!lines || lines.querySelector('[data-seq="' + line.seq + '"]')) return;
    const li = document.createElement("li");
    li.className = "chat-line chat-line-" + line.from;
    li.dataset.seq = String(line.seq);
    if (line.from !== "system") {
      const who = document.createElement("span");
      who.className = "chat-line-who";
      who.textContent = line.name;
      li.appendChild(who);
    }
    const text = document.createElement("span");
    text.className = "chat-line-text";
    text.textContent = line.text;
    li.appendChild(text);
    (line.attachments || []).forEach(function (a) {
      const link = document.createElement("a");
      link.className = "chat-line-file";
      link.href = a.url;
      link.textContent = a.name;
      li.appendChild(link);
    });
    const time = document.createElement("time");
    time.className = "chat-line-time";
    time.dateTime = line.at;
    li.appendChild(time);
    formatTime(time);
    let before = null;
    lines.querySelectorAll("[data-seq]").forEach(function (other) {
      if (!before && Number(other.dataset.seq) > line.seq) before = other;
    });
    lines.insertBefore(li, before);
    lines.scrollTop = lines.scrollHeight;
    if (line.from === "visitor") {
      const typing = document.getElementById("chat-typing");
      if (typing) typing.hidden = true;
    }
  }

  function formatTime(el) {
    const at = new Date(el.dateTime);
    if (!isNaN(at)) el.textContent = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function showError(text) {
    const conv = document.getElementById("chat-conv");
    if (!conv) return;
    let box = conv.querySelector(".chat-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "chat-error small";
      box.setAttribute("role", "alert");
      const form = document.getElementById("chat-reply");
      conv.insertBefore(box, form);
    }
    box.textContent = text;
  }

  function reply(form) {
    const box = form.querySelector("textarea");
    const text = box.value.trim();
    const conv = currentConversation();
    if (!text || !conv) return;
    const clientId = "a" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    if (!send({ type: "reply", conversation: conv.id, text: text, client_id: clientId })) {
      showError("Not connected: your reply was not sent. It is still in the box.");
      return;
    }
    box.value = "";
    typingSent = 0;
    send({ type: "typing", conversation: conv.id, on: false });
  }

  function markSelected() {
    const conv = currentConversation();
    list.querySelectorAll(".chat-item").forEach(function (a) {
      a.classList.toggle("is-selected", conv !== null && Number(a.dataset.conversation) === conv.id);
    });
    const waiting = list.querySelectorAll(".chat-item-waiting").length;
    document.title = (waiting ? "(" + waiting + ") " : "") + baseTitle;
  }

  document.body.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.target === pane) {
      const conv = currentConversation();
      const box = document.getElementById("chat-reply-text");
      if (conv && box && draft && draft.id === conv.id && draft.text) {
        box.value = draft.text;
        if (draft.focused) box.focus();
      }
      draft = null;
      if (conv) {
        watch(conv);
        pane.querySelectorAll("time.chat-line-time").forEach(formatTime);
        const lines = document.getElementById("chat-lines");
        if (lines) lines.scrollTop = lines.scrollHeight;
        const url = inbox.dataset.conversationUrl + "?c=" + conv.id;
        if (window.location.search !== "?c=" + conv.id) window.history.replaceState(null, "", url);
      }
    }
    markSelected();
  });

  pane.addEventListener("submit", function (ev) {
    if (ev.target.id === "chat-reply") {
      ev.preventDefault();
      reply(ev.target);
    }
  });
  pane.addEventListener("keydown", function (ev) {
    if (ev.target.id === "chat-reply-text" && ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      reply(ev.target.form);
    }
  });
  pane.addEventListener("input", function (ev) {
    if (ev.target.id !== "chat-reply-text" || !watched) return;
    const now = Date.now();
    if (now - typingSent > 2000) {
      typingSent = now;
      send({ type: "typing", conversation: watched, on: true });
    }
  });

  connect();
  markSelected();
  if (inbox.dataset.selected) loadPane(Number(inbox.dataset.selected));
})();
