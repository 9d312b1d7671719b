/* The rule editor: add and remove condition and action rows, offer only the operators a
   field allows, and show only the inputs an action type uses. Without this script the page
   still works: each list carries one spare empty row, and every input is shown. */
(function () {
  "use strict";

  function nextIndex(list, kind) {
    let max = -1;
    list.querySelectorAll("[name^='" + kind + "-']").forEach(function (input) {
      const n = parseInt(input.name.split("-")[1], 10);
      if (!isNaN(n) && n > max) max = n;
    });
    return max + 1;
  }

  function syncOperators(row) {
    const field = row.querySelector("[data-cond-field]");
    const op = row.querySelector("[data-cond-op]");
    if (!field || !op) return;
    const chosen = field.options[field.selectedIndex];
    const allowed = chosen && chosen.dataset.ops ? chosen.dataset.ops.split(" ") : null;
    let firstAllowed = null;
    Array.prototype.forEach.call(op.options, function (option) {
      const ok = !allowed || allowed.indexOf(option.value) !== -1;
      option.hidden = !ok;
      option.disabled = !ok;
      if (ok && firstAllowed === null) firstAllowed = option;
    });
    if (op.selectedOptions.length && op.selectedOptions[0].disabled && firstAllowed) {
      firstAllowed.selected = true;
    }
  }

  function syncAction(row) {
    const type = row.querySelector("[data-act-type]");
    if (!type) return;
    row.querySelectorAll("[data-show]").forEach(function (part) {
      const types = part.dataset.show.split(" ");
      part.hidden = type.value === "" || types.indexOf(type.value) === -1;
    });
  }

  function wire(row) {
    const field = row.querySelector("[data-cond-field]");
    if (field) {
      field.addEventListener("change", function () { syncOperators(row); });
      syncOperators(row);
    }
    const type = row.querySelector("[data-act-type]");
    if (type) {
      type.addEventListener("change", function () { syncAction(row); });
      syncAction(row);
    }
    const remove = row.querySelector("[data-remove-row]");
    if (remove) {
      remove.addEventListener("click", function () { row.remove(); });
    }
  }

  function addRow(kind) {
    const fieldset = document.querySelector("[data-rows='" + kind + "']");
    const template = document.getElementById("row-template-" + kind);
    if (!fieldset || !template) return;
    const list = fieldset.querySelector("[data-row-list]");
    const n = String(nextIndex(list, kind));
    const row = template.content.firstElementChild.cloneNode(true);
    row.querySelectorAll("[name]").forEach(function (input) {
      input.name = input.name.replace("__n__", n);
    });
    list.appendChild(row);
    wire(row);
    const first = row.querySelector("select");
    if (first) first.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    const editor = document.querySelector("[data-rule-editor]");
    if (!editor) return;
    editor.querySelectorAll("[data-row]").forEach(wire);
    editor.querySelectorAll("[data-add-row]").forEach(function (button) {
      button.addEventListener("click", function () { addRow(button.dataset.addRow); });
    });
  });
})();
