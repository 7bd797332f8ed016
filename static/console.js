// Karmo Admin console behaviour: error fragments, toasts and keyboard moves in Find.
(function () {
  "use strict";

  var MESSAGES = {
    403: "You do not have permission to do this.",
    404: "That record no longer exists.",
    0: "The server could not be reached. Check your connection and try again."
  };

  function toast(text) {
    var box = document.getElementById("toasts");
    if (!box) { return; }
    var item = document.createElement("p");
    item.className = "toast";
    item.setAttribute("role", "alert");
    item.textContent = text;
    box.appendChild(item);
    window.setTimeout(function () { item.remove(); }, 6000);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    // Error answers marked as fragments carry an inline message: show them in place.
    if (event.detail.xhr.getResponseHeader("X-Karmo-Fragment")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    toast(MESSAGES[status] || "Something went wrong (" + status + "). Please try again.");
  });

  document.addEventListener("htmx:sendError", function () { toast(MESSAGES[0]); });

  function resultLinks() {
    return Array.prototype.slice.call(document.querySelectorAll("#results a.result-link"));
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp" && event.key !== "Escape") { return; }
    var search = document.getElementById("q");
    if (!search) { return; }
    var links = resultLinks();
    var here = links.indexOf(document.activeElement);
    if (event.key === "Escape" && (here >= 0 || document.activeElement === search)) {
      search.focus();
      search.select();
      return;
    }
    if (document.activeElement === search && event.key === "ArrowDown" && links.length) {
      event.preventDefault();
      links[0].focus();
    } else if (here >= 0) {
      event.preventDefault();
      var next = event.key === "ArrowDown" ? here + 1 : here - 1;
      if (next < 0) { search.focus(); } else if (next < links.length) { links[next].focus(); }
    }
  });
})();
