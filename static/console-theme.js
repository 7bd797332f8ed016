// The theme toggle without a page load: the same cookie the server reads to write
// data-theme on <html> (so the next page's first paint is right), set here at once.
(function () {
  "use strict";

  var ORDER = ["auto", "dark", "light"];
  var LABELS = { auto: "Auto", dark: "Dark", light: "Light" };
  var YEAR = 365 * 24 * 3600;

  function apply(theme) {
    var secure = window.location.protocol === "https:" ? "; Secure" : "";
    if (theme === "auto") {
      document.documentElement.removeAttribute("data-theme");
      document.cookie = "karmo_theme=; path=/; max-age=0; SameSite=Lax" + secure;
    } else {
      document.documentElement.setAttribute("data-theme", theme);
      document.cookie = "karmo_theme=" + theme + "; path=/; max-age=" + YEAR + "; SameSite=Lax" + secure;
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-theme-toggle")) { return; }
    event.preventDefault();
    var field = form.querySelector("input[name=theme]");
    var theme = field.value;
    apply(theme);
    var following = ORDER[(ORDER.indexOf(theme) + 1) % ORDER.length];
    field.value = following;
    var button = form.querySelector("button");
    button.textContent = "Theme: " + LABELS[theme];
    button.title = "Switch to " + LABELS[following].toLowerCase();
    button.setAttribute("aria-label", "Theme: " + LABELS[theme] + ". Switch to " + LABELS[following].toLowerCase());
  });
})();
