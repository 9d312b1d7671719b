/* The bell: its unread count follows the desk socket ("notification" frames carry the new
   count); its list loads when opened, and again when something arrives while it is open. */
(function () {
  "use strict";
  const bell = document.getElementById("bell");
  if (!bell) return;
  const panel = document.getElementById("bell-panel");

  function setCount(unread) {
    const badge = document.getElementById("bell-count");
    if (!badge) return;
    badge.dataset.unread = String(unread);
    badge.hidden = unread <= 0;
    badge.textContent = unread > 99 ? "99+" : String(unread);
    const label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = " unread";
    badge.append(label);
  }

  function load() {
    if (window.htmx && panel) window.htmx.trigger(panel, "bell-open");
  }

  bell.addEventListener("toggle", function () { if (bell.open) load(); });

  document.addEventListener("helpdesk:live", function (event) {
    const data = event.detail;
    if (data.type !== "notification") return;
    setCount(Number(data.unread) || 0);
    bell.classList.remove("is-ringing");
    void bell.offsetWidth; // restart the animation
    bell.classList.add("is-ringing");
    if (bell.open) load();
  });

  // close on Escape or a click elsewhere, like the other menus
  document.addEventListener("click", function (event) {
    if (bell.open && event.target instanceof Node && !bell.contains(event.target)) bell.open = false;
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && bell.open) {
      bell.open = false;
      bell.querySelector("summary")?.focus();
    }
  });
})();
