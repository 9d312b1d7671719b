/* The calendar editor: add and remove opening-hour segments per day and holiday rows, copy
   Monday's hours to the other weekdays, and confirm before deleting. Without this script the
   page still works: every day and the holiday list carry one spare empty row. */
(function () {
  "use strict";

  function segmentTemplate() {
    const template = document.getElementById("segment-template");
    return template ? template.content.firstElementChild : null;
  }

  function newSegment(day, start, end) {
    const proto = segmentTemplate();
    if (!proto) return null;
    const segment = proto.cloneNode(true);
    const label = day.dataset.dayLabel || day.dataset.day;
    segment.querySelectorAll("input").forEach(function (input) {
      const part = input.dataset.part;
      input.name = "hours-" + day.dataset.day + "-" + part;
      input.value = part === "start" ? start || "" : end || "";
      input.setAttribute("aria-label", label + (part === "start" ? " opens" : " closes"));
    });
    return segment;
  }

  function refreshClosed(day) {
    const closed = day.querySelector("[data-closed]");
    if (closed) closed.hidden = day.querySelectorAll("[data-segment]").length > 0;
  }

  function addSegment(day, start, end, focus) {
    const list = day.querySelector("[data-segments]");
    const segment = newSegment(day, start, end);
    if (!list || !segment) return;
    list.insertBefore(segment, list.querySelector("[data-closed]"));
    refreshClosed(day);
    if (focus) segment.querySelector("input").focus();
  }

  function segmentsOf(day) {
    return Array.prototype.map.call(day.querySelectorAll("[data-segment]"), function (segment) {
      return [
        segment.querySelector('[data-part="start"]').value,
        segment.querySelector('[data-part="end"]').value,
      ];
    });
  }

  function addHoliday(rows) {
    const template = document.getElementById("holiday-template");
    if (!template) return;
    const row = template.content.firstElementChild.cloneNode(true);
    rows.appendChild(row);
    row.querySelector("input").focus();
  }

  function init() {
    // On a narrow screen the top bar scrolls sideways: keep this page's entry in sight.
    const current = document.querySelector('.topnav [aria-current="page"]');
    if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest", inline: "nearest" });
    // The spare rows are for pages without this script.
    document.querySelectorAll(".segment-spare, .holiday-spare").forEach(function (el) {
      el.remove();
    });
    document.querySelectorAll("[data-day]").forEach(refreshClosed);

    document.addEventListener("click", function (event) {
      const target = event.target instanceof Element ? event.target : null;
      if (!target) return;
      const add = target.closest("[data-add-segment]");
      if (add) {
        const day = add.closest("[data-day]");
        const last = segmentsOf(day).pop();
        addSegment(day, last ? last[1] : "09:00", last ? "" : "17:00", true);
        return;
      }
      const remove = target.closest("[data-remove-segment]");
      if (remove) {
        const day = remove.closest("[data-day]");
        remove.closest("[data-segment]").remove();
        refreshClosed(day);
        const next = day.querySelector("[data-add-segment]");
        if (next) next.focus();
        return;
      }
      const copy = target.closest("[data-copy-weekdays]");
      if (copy) {
        const monday = document.querySelector('[data-day="mon"]');
        const segments = segmentsOf(monday);
        ["tue", "wed", "thu", "fri"].forEach(function (key) {
          const day = document.querySelector('[data-day="' + key + '"]');
          if (!day) return;
          day.querySelectorAll("[data-segment]").forEach(function (el) { el.remove(); });
          segments.forEach(function (pair) { addSegment(day, pair[0], pair[1], false); });
          refreshClosed(day);
        });
        return;
      }
      if (target.closest("[data-add-holiday]")) {
        addHoliday(document.querySelector("[data-holiday-rows]"));
        return;
      }
      const removeHoliday = target.closest("[data-remove-holiday]");
      if (removeHoliday) {
        removeHoliday.closest("[data-holiday]").remove();
      }
    });

    document.addEventListener("submit", function (event) {
      const form = event.target;
      if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
