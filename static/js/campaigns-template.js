// Live preview of a campaign template while it is typed: the server renders it (the same
// restricted renderer that sends), counts segments and reports syntax errors with their
// position. Posts the text (never in a URL); a named patient makes it an audited read.
(function () {
  "use strict";
  var form = document.querySelector("form[data-live-preview]");
  if (!form) return;
  var body = form.querySelector("textarea[data-template-body]");
  var contact = document.querySelector("[data-preview-contact]");
  var out = document.querySelector("[data-preview-text]");
  var meta = document.querySelector("[data-preview-meta]");
  var error = document.querySelector("[data-preview-error]");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]");
  if (!body || !out) return;
  var timer = null;
  var sequence = 0;

  function show(result) {
    if (result.error) {
      out.textContent = "";
      meta.textContent = "";
      error.textContent = result.error;
      return;
    }
    error.textContent = "";
    out.textContent = result.text;
    var who = result.contact_id ? "contact #" + result.contact_id : "a sample patient";
    var text = "For " + who + " · " + result.characters + " characters · " + result.segments +
      " segment" + (result.segments === 1 ? "" : "s") + " (" + result.encoding + ")";
    if (result.missing && result.missing.length) {
      text += " · no value for " + result.missing.join(", ");
    }
    meta.textContent = text;
  }

  function refresh() {
    var mine = ++sequence;
    var data = new FormData();
    data.append("body", body.value);
    if (contact) data.append("contact", contact.value);
    fetch(form.dataset.livePreview, {
      method: "POST", body: data, credentials: "same-origin",
      headers: {"X-CSRFToken": csrf ? csrf.value : ""}
    }).then(function (response) {
      if (!response.ok) throw new Error("preview unavailable");
      return response.json();
    }).then(function (result) {
      if (mine === sequence) show(result);
    }).catch(function () {
      if (mine === sequence) error.textContent = "The preview is unavailable right now; saving still checks the text.";
    });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 300);
  }

  body.addEventListener("input", later);
  if (contact) contact.addEventListener("input", later);
  refresh();
})();
