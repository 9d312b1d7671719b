/* Desk-wide shortcuts: "?" shows the help dialog, "g q" goes back to the queue. */
(function () {
  "use strict";
  const helpdesk = window.helpdesk;
  let lastKey = "";
  let lastAt = 0;

  function dialog() { return document.getElementById("shortcuts-dialog"); }

  function openHelp() {
    const d = dialog();
    if (d && !d.open) d.showModal();
  }

  document.addEventListener("click", function (event) {
    if (event.target instanceof Element && event.target.closest("[data-open-shortcuts]")) openHelp();
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (helpdesk.isTyping(event)) return;
    if (dialog()?.open) return;
    if (event.key === "?") {
      event.preventDefault();
      openHelp();
      return;
    }
    const now = Date.now();
    if (lastKey === "g" && event.key === "q" && now - lastAt < 1000) {
      event.preventDefault();
      const queue = document.querySelector('.topnav a[href$="/desk/"]');
      window.location.href = queue ? queue.getAttribute("href") : "/desk/";
    }
    lastKey = event.key;
    lastAt = now;
  });
})();
