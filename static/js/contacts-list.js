// Contacts list: "select all" and the count of ticked contacts for bulk tag/export.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    var all = form.querySelector("[data-select-all]");
    var counter = form.querySelector("[data-selected-count]");
    function boxes() { return form.querySelectorAll("input[name=contact]"); }
    function refresh() {
      var n = 0;
      boxes().forEach(function (b) { if (b.checked) n += 1; });
      if (counter) counter.textContent = String(n);
    }
    if (all) all.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = all.checked; });
      refresh();
    });
    form.addEventListener("change", refresh);
  });
})();
