/* @mentions in the internal note: typing "@" and a few letters lists the agents who can see
   the ticket (from the server, which applies the access rules); arrows pick, Enter or Tab
   inserts "@username ". Anyone else typed after an "@" stays plain text. */
(function () {
  "use strict";
  const field = document.getElementById("note-text");
  if (!field || !field.dataset.mentionsUrl) return;
  const url = field.dataset.mentionsUrl;
  const list = document.createElement("ul");
  list.id = "mention-options";
  list.className = "mention-options";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Agents to mention");
  list.hidden = true;
  field.insertAdjacentElement("afterend", list);
  field.setAttribute("aria-controls", list.id);
  field.setAttribute("aria-autocomplete", "list");
  let options = [];
  let active = -1;
  let asked = 0;

  function wordAtCaret() {
    const upto = field.value.slice(0, field.selectionStart);
    const match = /(^|[^\w@.])@([\w.+-]{0,30})$/.exec(upto);
    return match ? { query: match[2], start: upto.length - match[2].length - 1 } : null;
  }

  function close() {
    list.hidden = true;
    list.replaceChildren();
    options = [];
    active = -1;
    field.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    active = index;
    Array.from(list.children).forEach(function (item, i) {
      item.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    if (index >= 0) field.setAttribute("aria-activedescendant", "mention-option-" + index);
  }

  function show(results) {
    list.replaceChildren();
    options = results;
    if (!results.length) { close(); return; }
    results.forEach(function (person, i) {
      const item = document.createElement("li");
      item.id = "mention-option-" + i;
      item.setAttribute("role", "option");
      item.dataset.username = person.username;
      const handle = document.createElement("strong");
      handle.textContent = "@" + person.username;
      item.append(handle);
      if (person.name) {
        const name = document.createElement("span");
        name.className = "muted";
        name.textContent = " " + person.name;
        item.append(name);
      }
      list.append(item);
    });
    list.hidden = false;
    highlight(0);
  }

  function choose(index) {
    const at = wordAtCaret();
    const person = options[index];
    if (!at || !person) return;
    const before = field.value.slice(0, at.start);
    const after = field.value.slice(field.selectionStart);
    const insert = "@" + person.username + " ";
    field.value = before + insert + after;
    const caret = before.length + insert.length;
    field.setSelectionRange(caret, caret);
    close();
    field.focus();
  }

  field.addEventListener("input", function () {
    const at = wordAtCaret();
    if (!at) { close(); return; }
    const ticket = ++asked;
    fetch(url + "?q=" + encodeURIComponent(at.query), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { results: [] }; })
      .then(function (data) { if (ticket === asked) show(data.results || []); })
      .catch(close);
  });

  field.addEventListener("keydown", function (event) {
    if (list.hidden) return;
    if (event.key === "ArrowDown") { event.preventDefault(); highlight((active + 1) % options.length); }
    else if (event.key === "ArrowUp") { event.preventDefault(); highlight((active - 1 + options.length) % options.length); }
    else if ((event.key === "Enter" || event.key === "Tab") && !event.ctrlKey && !event.metaKey && active >= 0) {
      event.preventDefault();
      event.stopPropagation();
      choose(active);
    } else if (event.key === "Escape") { event.stopPropagation(); close(); }
  }, true);

  list.addEventListener("mousedown", function (event) {
    const item = event.target instanceof Element && event.target.closest("[role=option]");
    if (!item) return;
    event.preventDefault();
    choose(Array.from(list.children).indexOf(item));
  });
  field.addEventListener("blur", function () { setTimeout(close, 150); });
  document.body.addEventListener("note-sent", close);
})();
