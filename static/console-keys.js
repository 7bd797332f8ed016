// Keyboard use of the console: the command palette (Ctrl/⌘-K), j/k through list rows and
// `?` for the list of shortcuts. Single keys never fire while someone types in a field.
(function () {
  "use strict";

  var ROWS = "#results a.result-link, #request-list > article.card, #results tbody tr";
  var FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex]:not([tabindex='-1'])";
  var openers = {};

  function typing(target) {
    if (!target || !target.closest) { return false; }
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]"));
  }

  function openDialog(id) {
    var dialog = document.getElementById(id);
    if (!dialog || dialog.open) { return dialog; }
    openers[id] = document.activeElement;
    dialog.showModal();
    var first = dialog.querySelector("input, " + FOCUSABLE);
    if (first) { first.focus(); }
    return dialog;
  }

  // Focus goes back to what opened the dialog, so nobody loses their place.
  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement)) { return; }
    var opener = openers[dialog.id];
    if (opener && opener.isConnected && opener.focus) { opener.focus(); }
  }, true);

  // A modal dialog keeps Tab inside itself (the page behind is inert, the browser's own
  // controls are not), and Esc closes it even from a field that would swallow the key.
  function trap(event) {
    var dialog = event.currentTarget;
    if (event.key === "Escape") {
      event.preventDefault();
      dialog.close();
      return;
    }
    if (event.key !== "Tab") { return; }
    var items = Array.prototype.filter.call(dialog.querySelectorAll(FOCUSABLE), function (el) {
      return el.offsetParent !== null;
    });
    if (!items.length) { return; }
    var first = items[0];
    var last = items[items.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("dialog.kbd-dialog"), function (dialog) {
    dialog.addEventListener("keydown", trap);
  });

  // "All" in a bulk form ticks or clears every item of that name in the same form.
  document.addEventListener("change", function (event) {
    var all = event.target;
    if (!all.hasAttribute || !all.hasAttribute("data-check-all")) { return; }
    var name = all.getAttribute("data-check-all");
    Array.prototype.forEach.call(all.form.querySelectorAll("input[type=checkbox]"), function (box) {
      if (box.name === name) { box.checked = all.checked; }
    });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-open-dialog]");
    if (button) { openDialog(button.getAttribute("data-open-dialog")); }
  });

  // The palette: the server answers with what this staff member may see (scoped search).
  var palette = document.getElementById("palette");
  var input = document.getElementById("palette-input");
  var list = document.getElementById("palette-options");
  var status = document.getElementById("palette-status");
  var active = -1;
  var pending = null;
  var timer = null;

  function options() { return list ? list.querySelectorAll("[role=option]") : []; }

  function choose(index) {
    var all = options();
    if (!all.length) { active = -1; input.removeAttribute("aria-activedescendant"); return; }
    active = (index + all.length) % all.length;
    Array.prototype.forEach.call(all, function (option, i) {
      option.setAttribute("aria-selected", i === active ? "true" : "false");
    });
    input.setAttribute("aria-activedescendant", all[active].id);
    all[active].scrollIntoView({ block: "nearest" });
  }

  function render(items) {
    list.textContent = "";
    items.forEach(function (item, i) {
      var option = document.createElement("li");
      option.id = "palette-option-" + i;
      option.setAttribute("role", "option");
      option.setAttribute("data-url", item.url);
      var kind = document.createElement("span");
      kind.className = "palette-kind";
      kind.textContent = item.kind;
      var label = document.createElement("span");
      label.className = "palette-label";
      label.textContent = item.label;
      option.appendChild(kind);
      option.appendChild(label);
      if (item.detail) {
        var detail = document.createElement("span");
        detail.className = "palette-detail muted";
        detail.textContent = item.detail;
        option.appendChild(detail);
      }
      list.appendChild(option);
    });
    status.textContent = items.length
      ? items.length + (items.length === 1 ? " match" : " matches")
      : "Nothing matches. People and organizations need at least two characters.";
    choose(0);
  }

  function lookup() {
    if (pending) { pending.abort(); }
    pending = new AbortController();
    var url = palette.getAttribute("data-url") + "?q=" + encodeURIComponent(input.value);
    fetch(url, { signal: pending.signal, credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("palette " + response.status); }
        return response.json();
      })
      .then(function (body) { render(body.items); })
      .catch(function (error) {
        if (error.name !== "AbortError") { status.textContent = "Search is not available right now."; }
      });
  }

  function go(option) {
    if (option) { window.location.assign(option.getAttribute("data-url")); }
  }

  if (palette && input && list) {
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(lookup, 150);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        choose(active + (event.key === "ArrowDown" ? 1 : -1));
      } else if (event.key === "Enter") {
        event.preventDefault();
        go(options()[active]);
      }
    });
    list.addEventListener("click", function (event) {
      go(event.target.closest("[role=option]"));
    });
  }

  function openPalette() {
    if (!palette) { return; }
    var wasOpen = palette.open;
    openDialog("palette");
    input.focus();
    input.select();
    if (!wasOpen) { lookup(); }
  }

  // j/k: the next or previous row of the list on this page, focused so Enter opens it.
  function moveRow(step) {
    var rows = Array.prototype.filter.call(document.querySelectorAll(ROWS), function (row) {
      return row.querySelector("a[href]") || row.matches("a[href]");
    });
    if (!rows.length) { return; }
    var here = rows.findIndex(function (row) { return row.contains(document.activeElement); });
    var next = here < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(Math.max(here + step, 0), rows.length - 1);
    var row = rows[next];
    rows.forEach(function (other) { other.classList.remove("kbd-current"); });
    row.classList.add("kbd-current");
    if (!row.matches("a[href]")) { row.setAttribute("tabindex", "-1"); }
    row.focus();
    row.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
      event.preventDefault();
      openPalette();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) { return; }
    if (typing(event.target) || document.querySelector("dialog[open]")) { return; }
    if (event.key === "?") {
      event.preventDefault();
      openDialog("shortcuts");
    } else if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      moveRow(event.key === "j" ? 1 : -1);
    } else if (event.key === "Enter" && event.target.classList && event.target.classList.contains("kbd-current") && !event.target.matches("a[href]")) {
      var link = event.target.querySelector("a[href]");
      if (link) { event.preventDefault(); link.click(); }
    }
  });
})();
