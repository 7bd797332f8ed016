// Karmo Admin console behaviour: error fragments, toasts, focus after actions, slow-call
// feedback and keyboard moves in Find.
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

  // A live region that exists before the change, so screen readers announce what was added.
  function announce(text) {
    var box = document.getElementById("announcer");
    if (!box || !text) { return; }
    box.textContent = "";
    window.setTimeout(function () { box.textContent = text; }, 50);
  }

  function isAction(detail) {
    var config = detail.requestConfig;
    return Boolean(config) && config.verb !== "get";
  }

  // After an action the swapped fragment replaces the focused button: move focus to the
  // outcome (notice, error) or the updated card instead of letting it fall to <body>.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (!isAction(event.detail)) { return; }
    var target = event.detail.target;
    var fresh = (target && target.id && document.getElementById(target.id)) || target;
    if (!fresh || !fresh.isConnected) { return; }
    var message = fresh.querySelector(".notice, .error, .field-error");
    if (message) { announce(message.textContent.trim()); }
    var active = document.activeElement;
    if (active && active !== document.body && active.isConnected) { return; }
    var spot = fresh.querySelector("[aria-invalid=true]") || message || fresh;
    if (!spot.hasAttribute("tabindex") && !spot.matches("input, textarea, select, button, a")) {
      spot.setAttribute("tabindex", "-1");
    }
    spot.focus();
  });

  // An expired session sends an action to the sign-in page: keep what was typed, per page,
  // in this tab's sessionStorage, and put it back when the page opens again after sign-in.
  var DRAFTS = "karmo:drafts:";

  function draftFields() {
    return Array.prototype.slice.call(
      document.querySelectorAll("main textarea[id], main input[type=text][id]")
    );
  }

  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var to = event.detail.xhr.getResponseHeader("HX-Redirect") || "";
    if (to.indexOf("expired=1") < 0) { return; }
    var drafts = {};
    draftFields().forEach(function (field) {
      if (field.value.trim()) { drafts[field.id] = field.value; }
    });
    if (Object.keys(drafts).length) {
      window.sessionStorage.setItem(DRAFTS + window.location.pathname, JSON.stringify(drafts));
    }
  });

  function restoreDrafts() {
    var key = DRAFTS + window.location.pathname;
    var saved = window.sessionStorage.getItem(key);
    if (!saved) { return; }
    var drafts = JSON.parse(saved);
    var restored = false;
    draftFields().forEach(function (field) {
      if (drafts[field.id] && !field.value) {
        field.value = drafts[field.id];
        restored = true;
      }
    });
    window.sessionStorage.removeItem(key);
    if (restored) { toast("What you typed before your session expired is back in its field."); }
  }

  restoreDrafts();

  // A provider call can take seconds: after a moment, say in words that it is still going.
  var SLOW_AFTER_MS = 1000;
  var WORKING = "Working… waiting for the provider";

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!isAction(event.detail)) { return; }
    var elt = event.detail.elt;
    var trigger = event.detail.requestConfig.triggeringEvent;
    var button = (trigger && trigger.submitter) || elt.querySelector("button[type=submit], button:not([type])");
    if (!button) { return; }
    var label = button.textContent;
    var timer = window.setTimeout(function () {
      button.textContent = WORKING;
      button.classList.add("in-flight");
      announce(WORKING + ".");
    }, SLOW_AFTER_MS);
    elt.addEventListener("htmx:afterRequest", function () {
      window.clearTimeout(timer);
      if (button.isConnected && button.classList.contains("in-flight")) {
        button.textContent = label;
        button.classList.remove("in-flight");
      }
    }, { once: true });
  });

  // A later success shows the provider answers again: the warning from before is stale.
  document.body.addEventListener("karmo:provider-ok", function () {
    var banner = document.getElementById("provider-unreachable");
    if (banner) { banner.remove(); }
  });

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

  // Time-bound access: keep "ends in …" current without reloading the page.
  function countdownText(ms) {
    if (ms <= 0) { return "any moment now"; }
    var minutes = Math.floor(ms / 60000);
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    var parts = [];
    if (days) { parts.push(days + (days === 1 ? " day" : " days")); }
    if (hours) { parts.push(hours + (hours === 1 ? " hour" : " hours")); }
    if (!days) { parts.push((minutes % 60) + " min"); }
    return parts.join(", ");
  }

  function tickCountdowns() {
    document.querySelectorAll("[data-countdown]").forEach(function (item) {
      var end = Date.parse(item.getAttribute("datetime"));
      if (!isNaN(end)) { item.textContent = countdownText(end - Date.now()); }
    });
  }

  window.setInterval(tickCountdowns, 30000);
  document.addEventListener("htmx:afterSettle", tickCountdowns);
})();
