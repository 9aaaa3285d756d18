// CareRelay shared behaviour. Loaded from our own origin: the CSP forbids inline scripts.
(function () {
  "use strict";
  // Progress bars take their width from a data attribute (inline styles are forbidden).
  function paintProgress(root) {
    (root || document).querySelectorAll("[data-progress]").forEach(function (bar) {
      var value = Math.max(0, Math.min(100, Number(bar.dataset.progress) || 0));
      bar.style.width = value + "%";
      bar.setAttribute("aria-valuenow", String(value));
    });
  }
  // Buttons that ask before doing something destructive.
  document.addEventListener("submit", function (event) {
    var question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });
  window.CareRelay = { paintProgress: paintProgress };
  document.addEventListener("DOMContentLoaded", function () { paintProgress(); });
})();
