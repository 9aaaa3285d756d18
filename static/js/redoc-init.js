// Starts Redoc on the schema URL the page names (no inline script: strict CSP).
(function () {
  "use strict";
  var container = document.getElementById("redoc-container");
  if (container && window.Redoc) {
    window.Redoc.init(container.dataset.schemaUrl, {}, container);
  }
})();
