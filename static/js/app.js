/* Behaviour shared by every page: relative times, dismissable messages, remembered panels. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  const helpdesk = (window.helpdesk = window.helpdesk || {});

  /** True when a key press belongs to a text field, not to a page shortcut. */
  helpdesk.isTyping = function (event) {
    const el = event.target;
    if (!(el instanceof HTMLElement)) return false;
    if (el.isContentEditable) return true;
    const tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  };

  /* --- relative times ------------------------------------------------------------------ */
  const units = [
    ["year", 365 * 24 * 3600], ["month", 30 * 24 * 3600], ["week", 7 * 24 * 3600],
    ["day", 24 * 3600], ["hour", 3600], ["minute", 60],
  ];
  const rtf = "Intl" in window && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" }) : null;

  function relative(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    const abs = Math.abs(seconds);
    if (abs < 45) return "just now";
    for (const [unit, size] of units) {
      if (abs >= size || unit === "minute") {
        const value = Math.round(seconds / size);
        return rtf ? rtf.format(value, unit) : `${Math.abs(value)} ${unit}s ago`;
      }
    }
    return "";
  }

  helpdesk.renderTimes = function (root) {
    (root || document).querySelectorAll("time[data-relative]").forEach(function (el) {
      const date = new Date(el.getAttribute("datetime"));
      if (!isNaN(date.getTime())) el.textContent = relative(date);
    });
  };

  /* --- remembered <details> (activity panel survives live refreshes) -------------------- */
  function restorePanels(root) {
    (root || document).querySelectorAll("details[data-remember-open][id]").forEach(function (el) {
      if (sessionStorage.getItem("open:" + el.id) === "1") el.open = true;
    });
  }
  document.addEventListener("toggle", function (event) {
    const el = event.target;
    if (el instanceof HTMLDetailsElement && el.hasAttribute("data-remember-open") && el.id) {
      sessionStorage.setItem("open:" + el.id, el.open ? "1" : "0");
    }
  }, true);

  /* --- messages ------------------------------------------------------------------------ */
  document.addEventListener("click", function (event) {
    const button = event.target instanceof Element && event.target.closest("[data-dismiss]");
    if (button) button.closest(".flash")?.remove();

    // A click outside an open user menu closes it.
    document.querySelectorAll("details.user-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
  function autoDismiss(root) {
    (root || document).querySelectorAll(".flash-success, .flash-info").forEach(function (el) {
      setTimeout(function () { el.remove(); }, 6000);
    });
  }

  /* --- file inputs: show what was picked ------------------------------------------------ */
  document.addEventListener("change", function (event) {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file") return;
    const holder = input.closest("form")?.querySelector("[data-file-names]");
    if (holder) holder.textContent = Array.from(input.files || []).map((f) => f.name).join(", ");
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      document.querySelectorAll("details.user-menu[open]").forEach((m) => { m.open = false; });
    }
  });

  function init(root) {
    helpdesk.renderTimes(root);
    restorePanels(root);
    autoDismiss(root);
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function () { init(document); });
  setInterval(function () { helpdesk.renderTimes(document); }, 60 * 1000);
})();
