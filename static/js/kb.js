/* Help centre: keyboard navigation of the search suggestions (htmx fills the list). */
(function () {
  "use strict";
  const input = document.getElementById("kb-q");
  const list = document.getElementById("kb-suggestions");
  if (!input || !list) return;

  function options() { return Array.from(list.querySelectorAll("a")); }
  function close() { list.innerHTML = ""; input.setAttribute("aria-expanded", "false"); }

  list.addEventListener("htmx:afterSwap", function () {
    input.setAttribute("aria-expanded", options().length ? "true" : "false");
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.target === list) input.setAttribute("aria-expanded", options().length ? "true" : "false");
  });
  input.addEventListener("keydown", function (event) {
    const items = options();
    if (event.key === "Escape") { close(); return; }
    if (!items.length || (event.key !== "ArrowDown" && event.key !== "ArrowUp")) return;
    event.preventDefault();
    let index = items.findIndex(function (a) { return a.getAttribute("aria-selected") === "true"; });
    index = event.key === "ArrowDown" ? (index + 1) % items.length : (index <= 0 ? items.length - 1 : index - 1);
    items.forEach(function (a, i) { a.setAttribute("aria-selected", i === index ? "true" : "false"); });
    items[index].focus();
  });
  list.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { close(); input.focus(); }
  });
  document.addEventListener("click", function (event) {
    if (!list.contains(event.target) && event.target !== input) close();
  });
  if (input.value === "" && input.closest(".kb-hero") && !window.location.hash) {
    input.focus({ preventScroll: true });
  }
})();
