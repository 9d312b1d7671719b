/* Bulk actions on the queue: check tickets (shift-click checks a range), check the whole page
   or everything the filters match, pick an action and its value, apply.
   The checked ids are remembered, so a live refresh or a new page of results keeps them. */
(function () {
  "use strict";
  const checked = new Set(); // ticket ids as strings
  let anchor = null; // the last checkbox clicked without shift

  function boxes() {
    return Array.from(document.querySelectorAll("#queue-results .bulk-check"));
  }

  function allMatching() {
    const box = document.getElementById("bulk-all-matching");
    return box instanceof HTMLInputElement && box.checked ? box : null;
  }

  function paint() {
    const all = boxes();
    all.forEach(function (box) {
      box.checked = checked.has(box.value);
      box.closest(".ticket-row")?.classList.toggle("is-checked", box.checked);
    });
    const pageAll = document.getElementById("bulk-page-all");
    if (pageAll instanceof HTMLInputElement) {
      const on = all.filter((b) => b.checked).length;
      pageAll.checked = all.length > 0 && on === all.length;
      pageAll.indeterminate = on > 0 && on < all.length;
    }
    const matching = allMatching();
    const count = document.getElementById("bulk-count");
    const apply = document.getElementById("bulk-apply");
    const n = matching ? Number(matching.dataset.count) : checked.size;
    if (count) {
      count.textContent = n === 0 ? "No tickets selected" : n === 1 ? "1 ticket selected" : n + " tickets selected";
    }
    if (apply instanceof HTMLButtonElement) apply.disabled = n === 0;
    document.getElementById("bulk-form")?.classList.toggle("has-selection", n > 0);
  }

  function showParams() {
    const action = document.getElementById("bulk-action");
    if (!(action instanceof HTMLSelectElement)) return;
    document.querySelectorAll("#bulk-form .bulk-param").forEach(function (field) {
      const on = (field.getAttribute("data-action") || "").split(" ").includes(action.value);
      field.hidden = !on;
      field.querySelectorAll("input, select").forEach(function (input) {
        input.disabled = !on;
      });
    });
  }

  // Checked ids of other pages are not in the page's form: send them as hidden fields.
  function syncHidden() {
    const form = document.getElementById("bulk-form");
    if (!form) return;
    form.querySelectorAll("input.bulk-kept").forEach((input) => input.remove());
    const onPage = new Set(boxes().map((b) => b.value));
    checked.forEach(function (id) {
      if (onPage.has(id)) return;
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "ticket";
      input.value = id;
      input.className = "bulk-kept";
      form.appendChild(input);
    });
  }

  document.addEventListener("click", function (event) {
    const box = event.target;
    if (!(box instanceof HTMLInputElement)) return;
    if (box.classList.contains("bulk-check")) {
      const all = boxes();
      if (event.shiftKey && anchor !== null) {
        const from = all.findIndex((b) => b.value === anchor);
        const to = all.indexOf(box);
        if (from !== -1 && to !== -1) {
          all.slice(Math.min(from, to), Math.max(from, to) + 1).forEach(function (b) {
            if (box.checked) checked.add(b.value);
            else checked.delete(b.value);
          });
        }
      } else if (box.checked) {
        checked.add(box.value);
      } else {
        checked.delete(box.value);
      }
      anchor = box.value;
      if (!box.checked) {
        const matching = allMatching();
        if (matching) matching.checked = false;
      }
      syncHidden();
      paint();
    } else if (box.id === "bulk-page-all") {
      boxes().forEach(function (b) {
        if (box.checked) checked.add(b.value);
        else checked.delete(b.value);
      });
      syncHidden();
      paint();
    } else if (box.id === "bulk-all-matching") {
      if (box.checked) boxes().forEach((b) => checked.add(b.value));
      syncHidden();
      paint();
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target instanceof HTMLElement && event.target.id === "bulk-action") showParams();
  });

  // A finished job: forget the selection and show the queue as it is now.
  document.body.addEventListener("bulk-finished", function () {
    checked.clear();
    syncHidden();
    const results = document.getElementById("queue-results");
    if (results && window.htmx) window.htmx.trigger(results, "live-update");
  });

  document.addEventListener("htmx:afterSettle", function () {
    syncHidden();
    paint();
  });

  showParams();
  paint();
})();
