/* Helpdesk live chat widget. Embed on any page with one tag:
 *   <script src="https://DESK/static/js/chat-widget.js" data-account="ACCOUNT" async></script>
 * No framework, no globals besides window.HelpdeskChat; the UI lives in a shadow root so the
 * host page's styles and ours never mix. The visitor is known by a signed token the desk
 * issues, kept in this site's localStorage; every line of the conversation carries a sequence
 * number, so after a reconnect the widget asks for exactly what it missed. */
(function () {
  "use strict";
  if (window.HelpdeskChat) return;

  const script = document.currentScript ||
    document.querySelector('script[src*="chat-widget.js"][data-account]');
  if (!script || !script.dataset.account) return;
  const scriptUrl = new URL(script.src, window.location.href);
  const BASE = scriptUrl.origin;
  const ACCOUNT = script.dataset.account;
  const API = BASE + "/channels/chat/" + encodeURIComponent(ACCOUNT) + "/";
  const CSS = scriptUrl.href.replace(/js\/chat-widget\.js.*$/, "css/chat-widget.css");
  const STORE_KEY = "hdchat:" + BASE + ":" + ACCOUNT;

  // --- state -------------------------------------------------------------------------------
  const saved = load();
  const state = {
    token: saved.token || "",
    conversation: saved.conversation || null,
    lastSeq: 0,                     // lines shown; a fresh page asks for the whole history
    name: saved.name || "",
    email: saved.email || "",
    pending: saved.pending || [],   // [{client_id, text}] sent but not acknowledged
    lines: new Map(),               // seq -> line
    config: null,
    status: "new",
    agent: null,
    online: false,
    open: false,
    unread: 0,
  };
  let socket = null;
  let retryDelay = 1000;
  let retryTimer = null;
  let pingTimer = null;
  let syncTimer = null;
  let typingSent = 0;
  let typingOffTimer = null;
  let seenSent = 0;
  let closedForGood = false;

  function load() {
    try { return JSON.parse(window.localStorage.getItem(STORE_KEY) || "{}") || {}; }
    catch (e) { return {}; }
  }
  function save() {
    try {
      window.localStorage.setItem(STORE_KEY, JSON.stringify({
        token: state.token, conversation: state.conversation, name: state.name, email: state.email, pending: state.pending,
      }));
    } catch (e) { /* private mode: the chat still works for this page view */ }
  }

  // --- DOM ---------------------------------------------------------------------------------
  const host = document.createElement("div");
  host.id = "helpdesk-chat";
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    '<link rel="stylesheet" href="' + CSS + '">' +
    '<button class="hd-launcher" type="button" aria-expanded="false" aria-controls="hd-panel">' +
    '  <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16v11H8l-4 4z"/></svg>' +
    '  <span class="hd-launcher-label">Chat</span><span class="hd-unread" hidden></span>' +
    '</button>' +
    '<section class="hd-panel" id="hd-panel" role="dialog" aria-label="Chat" hidden>' +
    '  <header class="hd-head">' +
    '    <span class="hd-avatar" aria-hidden="true"></span>' +
    '    <div class="hd-head-text"><strong class="hd-title"></strong>' +
    '      <span class="hd-status" role="status"></span></div>' +
    '    <button class="hd-close" type="button" aria-label="Close chat">×</button>' +
    '  </header>' +
    '  <div class="hd-notice" hidden></div>' +
    '  <form class="hd-prechat" hidden novalidate>' +
    '    <p class="hd-intro"></p>' +
    '    <label><span>Your name <span class="hd-opt">(optional)</span></span><input name="name" autocomplete="name" maxlength="200"></label>' +
    '    <label><span>Email <span class="hd-opt hd-email-opt">(optional)</span></span><input name="email" type="email" autocomplete="email" maxlength="320"></label>' +
    '    <p class="hd-error" role="alert" hidden></p>' +
    '    <button class="hd-start" type="submit">Start chat</button>' +
    '  </form>' +
    '  <ol class="hd-lines" aria-live="polite" hidden></ol>' +
    '  <p class="hd-typing" hidden></p>' +
    '  <form class="hd-composer" hidden>' +
    '    <label class="hd-attach" title="Attach a file"><input type="file" hidden>' +
    '      <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M16.5 6.5 8 15a2.5 2.5 0 0 0 3.5 3.5l9-9a4.5 4.5 0 0 0-6.4-6.4l-9 9a6.5 6.5 0 0 0 9.2 9.2L21 14"/></svg>' +
    '      <span class="hd-sr">Attach a file</span></label>' +
    '    <textarea class="hd-input" rows="1" placeholder="Write a message…" aria-label="Message"></textarea>' +
    '    <button class="hd-send" type="submit" aria-label="Send">' +
    '      <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 20 21 12 3 4v6l12 2-12 2z"/></svg></button>' +
    '  </form>' +
    '</section>';
  const $ = function (sel) { return root.querySelector(sel); };
  const el = {
    launcher: $(".hd-launcher"), unread: $(".hd-unread"), panel: $(".hd-panel"),
    title: $(".hd-title"), status: $(".hd-status"), avatar: $(".hd-avatar"), close: $(".hd-close"),
    notice: $(".hd-notice"), prechat: $(".hd-prechat"), intro: $(".hd-intro"),
    error: $(".hd-error"), emailOpt: $(".hd-email-opt"), lines: $(".hd-lines"),
    typing: $(".hd-typing"), composer: $(".hd-composer"), input: $(".hd-input"),
    file: $(".hd-attach input"),
  };

  function mount() {
    document.body.appendChild(host);
    el.launcher.addEventListener("click", toggle);
    el.close.addEventListener("click", toggle);
    el.prechat.addEventListener("submit", startSession);
    el.composer.addEventListener("submit", function (ev) { ev.preventDefault(); sendText(); });
    el.input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); sendText(); }
    });
    el.input.addEventListener("input", onTyping);
    el.file.addEventListener("change", upload);
    fetchConfig().then(function () {
      if (state.token) connect();
    });
  }

  function fetchConfig() {
    return fetch(API + "config/", { credentials: "include" })
      .then(function (r) { if (!r.ok) throw new Error("config " + r.status); return r.json(); })
      .then(function (config) {
        state.config = config;
        state.online = config.online;
        host.style.setProperty("--hd-accent", config.color);
        el.title.textContent = config.title;
        renderHeader();
        if (state.open) renderBody();  // opened before the config arrived
      })
      .catch(function () {
        closedForGood = true;
        el.launcher.hidden = true;  // not allowed on this site, or the desk is unreachable
      });
  }

  function toggle() {
    state.open = !state.open;
    el.panel.hidden = !state.open;
    el.launcher.setAttribute("aria-expanded", String(state.open));
    host.classList.toggle("hd-is-open", state.open);
    if (state.open) {
      state.unread = 0;
      renderUnread();
      renderBody();
      markSeen();
      (state.token ? el.input : el.prechat.querySelector("input")).focus();
    }
  }

  function renderHeader() {
    const agent = state.agent;
    el.avatar.textContent = agent ? agent.initials : "";
    el.avatar.style.background = agent ? agent.color : "";
    el.avatar.hidden = !agent;
    let text;
    if (state.status === "ended") text = "Chat ended";
    else if (agent && state.status === "active") text = agent.name + " is here to help";
    else if (state.status === "offline") text = "We'll reply by email";
    else if (state.status === "waiting") text = "Waiting for an agent…";
    else text = state.online ? "We're online" : "We're offline";
    el.status.textContent = text;
    el.status.dataset.online = String(state.online || state.status === "active");
  }

  function renderBody() {
    const config = state.config || {};
    const hasSession = Boolean(state.token);
    el.prechat.hidden = hasSession;
    el.lines.hidden = !hasSession;
    el.composer.hidden = !hasSession;
    if (!hasSession) {
      el.intro.textContent = state.online ? (config.welcome || "") : (config.offline || "");
      el.emailOpt.textContent = state.online ? "(optional)" : "(needed for our reply)";
      el.prechat.elements.name.value = state.name;
      el.prechat.elements.email.value = state.email;
    }
    if (hasSession && state.status === "new" && !state.online) {
      showNotice(config.offline || "Nobody is online right now; we will reply by email.");
    }
  }

  function showNotice(text) {
    el.notice.textContent = text;
    el.notice.hidden = !text;
  }

  function renderUnread() {
    el.unread.hidden = state.unread === 0;
    el.unread.textContent = String(state.unread);
  }

  // --- session -----------------------------------------------------------------------------
  function startSession(ev) {
    ev.preventDefault();
    const name = el.prechat.elements.name.value.trim();
    const email = el.prechat.elements.email.value.trim();
    if (!state.online && !email) {
      return showError("Please leave your email address so we can reply.");
    }
    showError("");
    el.prechat.querySelector(".hd-start").disabled = true;
    postSession(name, email).then(function () {
      showNotice("");
      renderBody();
      if (!resendPending()) connect();
      el.input.focus();
    }).finally(function () {
      el.prechat.querySelector(".hd-start").disabled = false;
    });
  }

  function postSession(name, email) {
    return fetch(API + "session/", {
      method: "POST", credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: state.token, name: name, email: email,
                             page: window.location.href }),
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { showError(data.error || "Could not start the chat."); throw new Error(data.error); }
        if (state.conversation !== data.conversation) {
          state.lines.clear();
          el.lines.textContent = "";
          state.lastSeq = 0;
        }
        state.token = data.token;
        state.conversation = data.conversation;
        state.status = data.status;
        state.name = data.name;
        state.email = data.email;
        save();
        return data;
      });
    });
  }

  function showError(text) {
    el.error.textContent = text;
    el.error.hidden = !text;
  }

  // --- socket ------------------------------------------------------------------------------
  function connect() {
    if (closedForGood || (socket && socket.readyState <= 1)) return;
    const url = BASE.replace(/^http/, "ws") + "/ws/chat/" + encodeURIComponent(ACCOUNT) + "/";
    socket = new WebSocket(url);
    socket.addEventListener("open", function () {
      retryDelay = 1000;
      socket.send(JSON.stringify({ type: "hello", token: state.token,
                                   conversation: state.conversation, last_seq: state.lastSeq }));
      clearInterval(pingTimer);
      pingTimer = setInterval(function () { send({ type: "ping" }); }, 25000);
    });
    socket.addEventListener("message", function (ev) {
      let data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      const handler = HANDLERS[data.type];
      if (handler) handler(data);
    });
    socket.addEventListener("close", function (ev) {
      clearInterval(pingTimer);
      if (ev.code === 4401) {  // our token names no conversation here: start over
        state.token = ""; state.conversation = null; state.lastSeq = 0; save();
        renderBody();
        return;
      }
      if (ev.code === 4403 || ev.code === 4404) { closedForGood = true; return; }
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    });
  }

  function resendPending() {
    if (!socket || socket.readyState !== 1) return false;
    state.pending.forEach(function (p) {
      const li = root.querySelector('li.hd-pending[data-client-id="' + cssEscape(p.client_id) + '"]');
      if (li) li.dataset.state = "sending";
      send({ type: "message", client_id: p.client_id, text: p.text });
    });
    return true;
  }

  function send(frame) {
    if (socket && socket.readyState === 1) { socket.send(JSON.stringify(frame)); return true; }
    return false;
  }

  const HANDLERS = {
    welcome: function (data) {
      if (data.reset || data.conversation !== state.conversation) {
        state.lines.clear();
        el.lines.textContent = "";
        state.lastSeq = 0;
      }
      state.conversation = data.conversation;
      state.status = data.status;
      state.agent = data.agent;
      state.online = data.online;
      save();
      renderHeader();
      renderBody();
      state.pending.forEach(renderPending);
      resendPending();
    },
    message: function (line) { addLine(line); },
    ack: function (data) {
      dropPending(data.client_id);
      if (data.conversation && data.conversation !== state.conversation) {
        state.conversation = data.conversation;
      }
      save();
    },
    status: function (data) {
      state.status = data.status;
      state.agent = data.agent;
      renderHeader();
      showNotice("");
      if (data.status === "ended") el.typing.hidden = true;
    },
    typing: function (data) {
      el.typing.textContent = (data.name || "The agent") + " is typing…";
      el.typing.hidden = !data.on;
    },
    error: function (data) {
      const p = data.client_id && root.querySelector('[data-client-id="' + cssEscape(data.client_id) + '"]');
      if (data.code === "rate_limited" && p) {
        p.dataset.state = "retrying";
        setTimeout(function () {
          const item = state.pending.find(function (x) { return x.client_id === data.client_id; });
          if (item) send({ type: "message", client_id: item.client_id, text: item.text });
        }, 3000);
        return;
      }
      if (data.code === "email_required") {
        // kept pending: sent again once the visitor has left an address
        if (p) p.dataset.state = "held";
        state.online = false;
        showNotice(data.detail || "Nobody is online: leave your email address and we will reply.");
        el.prechat.hidden = false;
        el.intro.textContent = "";
        el.emailOpt.textContent = "(needed for our reply)";
        el.prechat.elements.email.focus();
        return;
      }
      if (p) { p.dataset.state = "failed"; p.title = data.detail || data.code; }
      dropPending(data.client_id, true);
    },
    pong: function () {},
  };

  // --- lines -------------------------------------------------------------------------------
  function addLine(line) {
    if (line.conversation && line.conversation !== state.conversation) return;
    if (state.lines.has(line.seq)) return;   // replayed or pushed twice: shown once
    state.lines.set(line.seq, line);
    if (line.client_id) dropPending(line.client_id);
    renderLine(line);
    // advance over the contiguous run; a hole means a line is still on its way (or lost)
    while (state.lines.has(state.lastSeq + 1)) state.lastSeq += 1;
    save();
    const highest = Math.max.apply(null, Array.from(state.lines.keys()));
    clearTimeout(syncTimer);
    if (highest > state.lastSeq) {
      syncTimer = setTimeout(function () { send({ type: "sync", last_seq: state.lastSeq }); }, 700);
    }
    if (line.from === "agent") {
      el.typing.hidden = true;
      if (!state.open) { state.unread += 1; renderUnread(); }
    }
    markSeen();
  }

  function renderLine(line) {
    const li = document.createElement("li");
    li.className = "hd-line hd-line-" + line.from;
    li.dataset.seq = String(line.seq);
    if (line.from === "agent" && line.agent) {
      const who = document.createElement("span");
      who.className = "hd-who";
      who.textContent = line.agent.name;
      li.appendChild(who);
    }
    const body = document.createElement("span");
    body.className = "hd-text";
    body.textContent = line.text;
    li.appendChild(body);
    (line.attachments || []).forEach(function (a) {
      const link = document.createElement("a");
      link.className = "hd-file";
      link.href = BASE + a.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = a.name;
      li.appendChild(link);
    });
    // keep seq order even when lines arrive out of order
    let before = null;
    el.lines.querySelectorAll("li[data-seq]").forEach(function (other) {
      if (!before && Number(other.dataset.seq) > line.seq) before = other;
    });
    if (!before) before = el.lines.querySelector("li.hd-pending");
    el.lines.insertBefore(li, before);
    el.lines.scrollTop = el.lines.scrollHeight;
  }

  function renderPending(p) {
    if (root.querySelector('[data-client-id="' + cssEscape(p.client_id) + '"]')) return;
    const li = document.createElement("li");
    li.className = "hd-line hd-line-visitor hd-pending";
    li.dataset.clientId = p.client_id;
    li.dataset.state = "sending";
    const body = document.createElement("span");
    body.className = "hd-text";
    body.textContent = p.text;
    li.appendChild(body);
    el.lines.appendChild(li);
    el.lines.scrollTop = el.lines.scrollHeight;
  }

  function dropPending(clientId, keepBubble) {
    state.pending = state.pending.filter(function (p) { return p.client_id !== clientId; });
    save();
    if (keepBubble) return;
    const li = root.querySelector('li.hd-pending[data-client-id="' + cssEscape(clientId) + '"]');
    if (li) li.remove();
  }

  function newClientId() {
    const bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return "c" + Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function sendText() {
    const text = el.input.value.trim();
    if (!text) return;
    const max = (state.config && state.config.max_message_chars) || 4000;
    if (text.length > max) { showNotice("That message is too long."); return; }
    el.input.value = "";
    const item = { client_id: newClientId(), text: text };
    state.pending.push(item);
    save();
    renderPending(item);
    send({ type: "message", client_id: item.client_id, text: text });
    stopTyping();
    connect();  // no-op when open; otherwise the welcome resends the pending message
  }

  function upload() {
    const file = el.file.files && el.file.files[0];
    if (!file) return;
    const max = (state.config && state.config.max_upload_bytes) || 0;
    if (max && file.size > max) { showNotice("That file is too large."); el.file.value = ""; return; }
    const form = new FormData();
    form.append("token", state.token);
    form.append("client_id", newClientId());
    form.append("file", file);
    showNotice("Sending " + file.name + "…");
    fetch(API + "upload/", { method: "POST", body: form, credentials: "include" })
      .then(function (r) { return r.json().then(function (d) { if (!r.ok) throw new Error(d.error); }); })
      .then(function () { showNotice(""); })
      .catch(function (e) { showNotice("The file was not sent: " + e.message); })
      .finally(function () { el.file.value = ""; });
  }

  function onTyping() {
    const now = Date.now();
    if (now - typingSent > 2000) { send({ type: "typing", on: true }); typingSent = now; }
    clearTimeout(typingOffTimer);
    typingOffTimer = setTimeout(stopTyping, 3000);
  }
  function stopTyping() {
    clearTimeout(typingOffTimer);
    if (typingSent) { send({ type: "typing", on: false }); typingSent = 0; }
  }

  function markSeen() {
    if (!state.open || state.lastSeq <= seenSent) return;
    if (send({ type: "seen", seq: state.lastSeq })) seenSent = state.lastSeq;
  }

  function cssEscape(value) {
    return window.CSS && window.CSS.escape ? window.CSS.escape(value) : String(value).replace(/"/g, '\\"');
  }

  window.HelpdeskChat = {
    open: function () { if (!state.open) toggle(); },
    close: function () { if (state.open) toggle(); },
  };
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
