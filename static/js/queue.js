/* The queue: j/k move the selection, Enter opens it, "/" jumps to search.
   The selection is remembered by ticket number, so it survives live refreshes of the table. */
(function () {
  "use strict";
  const helpdesk = window.helpdesk;
  let selected = null; // ticket number as a string

  function rows() {
    return Array.from(document.querySelectorAll("#queue-results .ticket-row"));
  }

  function paint(focus) {
    const all = rows();
    let current = null;
    all.forEach(function (row) {
      const on = row.dataset.number === selected;
      row.classList.toggle("is-selected", on);
      if (on) current = row;
    });
    if (current && focus) {
      current.querySelector(".row-link")?.focus({ preventScroll: true });
      current.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    let index = all.findIndex((row) => row.dataset.number === selected);
    index = index === -1 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(index + step, 0), all.length - 1);
    selected = all[index].dataset.number;
    paint(true);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && event.target instanceof HTMLElement && event.target.id === "queue-search") {
      event.target.blur();
      return;
    }
    if (helpdesk.isTyping(event)) return;
    if (document.getElementById("shortcuts-dialog")?.open) return;
    if (event.key === "j") { event.preventDefault(); move(1); }
    else if (event.key === "k") { event.preventDefault(); move(-1); }
    else if (event.key === "/") {
      event.preventDefault();
      const search = document.getElementById("queue-search");
      search?.focus();
      search?.select();
    } else if (event.key === "Enter" && selected) {
      // A focused row link opens by itself; this covers a selection without focus.
      if (document.activeElement?.classList.contains("row-link")) return;
      const link = document.querySelector(`#queue-results .ticket-row[data-number="${selected}"] .row-link`);
      if (link) { event.preventDefault(); window.location.href = link.href; }
    }
  });

  // Tabbing or clicking into a row selects it too.
  document.addEventListener("focusin", function (event) {
    const row = event.target instanceof Element && event.target.closest("#queue-results .ticket-row");
    if (row) { selected = row.dataset.number; paint(false); }
  });

  document.addEventListener("htmx:afterSettle", function () { paint(false); });
})();
