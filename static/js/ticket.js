/* The ticket page: reply/note tabs, r/n to write, Ctrl+Enter to send, macro text insertion. */
(function () {
  "use strict";
  const helpdesk = window.helpdesk;

  function tabs() { return Array.from(document.querySelectorAll('.tabs [role="tab"]')); }

  function selectTab(name, focusField) {
    tabs().forEach(function (tab) {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      const panel = document.getElementById(tab.getAttribute("aria-controls"));
      if (panel) panel.hidden = !on;
    });
    if (focusField) document.getElementById(name === "note" ? "note-text" : "reply-text")?.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    selectTab("reply", false);
    showRemoteImages();
  });
  document.addEventListener("htmx:afterSettle", showRemoteImages);

  document.addEventListener("click", function (event) {
    const tab = event.target instanceof Element && event.target.closest('.tabs [role="tab"]');
    if (tab) selectTab(tab.dataset.tab, true);
  });

  // An email's remote images arrive parked in data-remote-src (the sanitiser only lets
  // http(s) URLs through there); they load only when the agent asks, without a referrer.
  // Asking reloads the page with ?remote_images=<id>: that response alone carries a policy
  // admitting the message's image origins, and names the message in a meta tag. A live
  // refresh re-renders the thread parked again, so this runs after every swap too.
  function showRemoteImages() {
    const meta = document.querySelector('meta[name="remote-images-message"]');
    const message = meta && document.getElementById("message-" + meta.content);
    if (!message) return;
    message.querySelectorAll("img[data-remote-src]").forEach(function (img) {
      img.referrerPolicy = "no-referrer";
      img.src = img.dataset.remoteSrc;
      img.removeAttribute("data-remote-src");
    });
    message.querySelector("[data-remote-images]")?.remove();
  }

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    // Arrow keys move between tabs (WAI-ARIA tabs pattern).
    if (target instanceof Element && target.matches('.tabs [role="tab"]') &&
        (event.key === "ArrowRight" || event.key === "ArrowLeft")) {
      const all = tabs();
      const next = all[(all.indexOf(target) + (event.key === "ArrowRight" ? 1 : all.length - 1)) % all.length];
      selectTab(next.dataset.tab, false);
      next.focus();
      event.preventDefault();
      return;
    }
    // Ctrl/Cmd+Enter sends whichever composer the cursor is in.
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      const form = target instanceof Element && target.closest("form[data-composer]");
      if (form) { event.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (event.key === "Escape" && target instanceof Element && target.closest("[data-subject-edit]")) {
      const details = target.closest("[data-subject-edit]");
      details.open = false;
      details.querySelector("summary")?.focus();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || helpdesk.isTyping(event)) return;
    if (document.getElementById("shortcuts-dialog")?.open) return;
    if (event.key === "r") { event.preventDefault(); selectTab("reply", true); }
    else if (event.key === "n") { event.preventDefault(); selectTab("note", true); }
  });

  // Choosing a macro puts its text into the reply box; "Apply changes" posts its field changes.
  document.addEventListener("change", function (event) {
    const select = event.target;
    if (!(select instanceof HTMLSelectElement) || !select.hasAttribute("data-macro-select")) return;
    const body = select.selectedOptions[0]?.dataset.body || "";
    if (!body) return;
    const box = document.getElementById("reply-text");
    if (!box) return;
    box.value = box.value.trim() ? box.value.replace(/\s+$/, "") + "\n\n" + body : body;
    selectTab("reply", true);
    box.setSelectionRange(box.value.length, box.value.length);
  });

  // "Send by": the chosen channel's warning (WhatsApp's 24-hour window, say) shows in full
  // under the menu, since an option's own text is cut to the menu's width.
  document.addEventListener("change", function (event) {
    const select = event.target;
    if (!(select instanceof HTMLSelectElement) || !select.hasAttribute("data-reply-channel")) return;
    const note = document.querySelector("[data-reply-channel-note]");
    if (!note) return;
    const text = select.selectedOptions[0]?.dataset.note || "";
    note.textContent = text;
    note.hidden = !text;
  });

  document.addEventListener("toggle", function (event) {
    const details = event.target;
    if (details instanceof HTMLDetailsElement && details.hasAttribute("data-subject-edit") && details.open) {
      const input = details.querySelector("input[name=subject]");
      input?.focus();
      input?.select();
    }
  }, true);

  function reset(formId) {
    const form = document.getElementById(formId);
    if (!form) return;
    form.reset();
    const names = form.querySelector("[data-file-names]");
    if (names) names.textContent = "";
  }
  // The server names these in HX-Trigger only when the message was stored.
  document.body.addEventListener("reply-sent", function () { reset("reply-form"); });
  document.body.addEventListener("note-sent", function () { reset("note-form"); });

  // 409 from the reply view: news arrived since the page was drawn. The body is the warning
  // (an out-of-band fragment inside the reply form); show it, keep the typed reply.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    const warning = document.querySelector("[data-stale-warning]");
    if (warning && !warning.dataset.seen) {
      warning.dataset.seen = "1";
      warning.querySelector("[data-send-anyway]")?.focus();
    }
  });
})();
