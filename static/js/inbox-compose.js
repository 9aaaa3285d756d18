// Thread composer helpers: insert a canned response; show the chosen WhatsApp template's
// preview and exactly as many parameter inputs as it has. Text only (textContent / value).
(function () {
  "use strict";

  function insertAtCursor(textarea, text) {
    var start = textarea.selectionStart, end = textarea.selectionEnd;
    var before = textarea.value.slice(0, start), after = textarea.value.slice(end);
    var spacer = before && !/\s$/.test(before) ? " " : "";
    textarea.value = before + spacer + text + after;
    var caret = (before + spacer + text).length;
    textarea.setSelectionRange(caret, caret);
    textarea.focus();
    textarea.dispatchEvent(new Event("input", { bubbles: true }));  // the segment counter follows
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-canned-body]");
    if (!button) return;
    var textarea = document.getElementById(button.dataset.target);
    if (textarea) insertAtCursor(textarea, button.dataset.cannedBody);
  });

  function syncTemplate(select) {
    var option = select.options[select.selectedIndex];
    if (!option) return;
    var count = Number(option.dataset.params) || 0;
    var preview = document.querySelector("[data-template-preview]");
    if (preview) preview.textContent = option.dataset.preview || "";
    document.querySelectorAll("[data-param-index]").forEach(function (box) {
      var wanted = Number(box.dataset.paramIndex) < count;
      box.classList.toggle("d-none", !wanted);
      var input = box.querySelector("input");
      if (input) input.required = wanted;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.querySelector("[data-template-select]");
    if (!select) return;
    select.addEventListener("change", function () { syncTemplate(select); });
    syncTemplate(select);
  });
})();
