/* SLA countdowns: every <time data-sla-due="ISO"> shows the time left ("12m left") or how far
   past due it is ("overdue by 3m"), and ticks without a reload. Elements that htmx swaps in
   are picked up on the next tick: the page is scanned each time, nothing is bound. */
(function () {
  "use strict";

  function span(seconds) {
    const minutes = Math.floor(seconds / 60);
    if (minutes < 1) return Math.max(0, Math.floor(seconds)) + "s";
    if (minutes < 60) return minutes + "m";
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + "h " + (minutes % 60) + "m";
    return Math.floor(hours / 24) + "d " + (hours % 24) + "h";
  }

  function paint(el, now) {
    const due = Date.parse(el.dataset.slaDue);
    if (Number.isNaN(due)) return;
    const left = (due - now) / 1000;
    const overdue = left < 0;
    el.textContent = overdue ? "overdue by " + span(-left) : span(left) + " left";
    el.classList.toggle("sla-overdue", overdue);
    el.classList.toggle("sla-soon", !overdue && left < 15 * 60);
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-sla-due]").forEach(function (el) {
      paint(el, now);
    });
  }

  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
  window.setInterval(tick, 1000);
})();
