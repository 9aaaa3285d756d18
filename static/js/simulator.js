// The simulated phone: polls for what CareRelay sends to this number and shows it as chat
// bubbles; the receipt menus post a carrier status. Text goes in with textContent only.
(function () {
  "use strict";

  var POLL_MS = 2500;
  // Polls are background traffic, not a person's activity: the idle timeout ignores requests
  // carrying this header, so an unattended simulator tab still signs out.
  var POLL_HEADERS = { Accept: "application/json", "X-CareRelay-Background": "1" };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function receiptForm(messageId) {
    var template = document.querySelector("[data-status-template]");
    if (!template) return null;
    var form = template.content.firstElementChild.cloneNode(true);
    form.querySelector("input[name=message]").value = String(messageId);
    var select = form.querySelector("select");
    select.id = "receipt-" + Number(messageId);
    form.querySelector("label").htmlFor = select.id;
    return form;
  }

  function bubble(row) {
    var outbound = row.direction === "outbound";
    var box = el("div", "bubble-row msg-new " + (outbound ? "from-clinic" : "from-patient"));
    box.dataset.message = String(row.id);
    box.dataset.testid = "phone-message";
    var inner = box.appendChild(el("div", "bubble"));
    inner.appendChild(el("span", "text-pre", row.body)).dataset.field = "body";
    var meta = box.appendChild(el("div", "bubble-meta"));
    meta.appendChild(el("time", "", row.time)).setAttribute("datetime", row.timestamp || "");
    if (outbound) {
      meta.appendChild(document.createTextNode(" · "));
      var badge = meta.appendChild(el("span", "badge status-badge " + row.status_class, row.status_label));
      badge.dataset.status = row.status;
      if (row.origin === "otp") {
        meta.appendChild(document.createTextNode(" · "));
        meta.appendChild(el("span", "text-body-secondary", "sign-in code"));
      }
      var form = receiptForm(row.id);
      if (form) { meta.appendChild(document.createTextNode(" ")); meta.appendChild(form); }
    }
    return box;
  }

  function applyStatus(screen, update) {
    var badge = screen.querySelector('[data-message="' + Number(update.id) + '"] [data-status]');
    if (badge && badge.dataset.status !== update.status) {
      badge.className = "badge status-badge " + update.status_class;
      badge.textContent = update.status_label;
      badge.dataset.status = update.status;
    }
  }

  function start(screen) {
    screen.scrollTop = screen.scrollHeight;
    var busy = false;
    function tick() {
      if (busy || document.hidden) return;
      busy = true;
      var url = screen.dataset.pollUrl + "?after=" + encodeURIComponent(screen.dataset.lastId || "0");
      fetch(url, { credentials: "same-origin", headers: POLL_HEADERS })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) return;
          var added = false;
          (data.messages || []).forEach(function (row) {
            if (screen.querySelector('[data-message="' + Number(row.id) + '"]')) return;
            var empty = screen.querySelector("[data-empty]");
            if (empty) empty.remove();
            screen.appendChild(bubble(row));
            screen.dataset.lastId = String(Math.max(Number(screen.dataset.lastId) || 0, Number(row.id)));
            added = true;
          });
          (data.statuses || []).forEach(function (update) { applyStatus(screen, update); });
          if (added) screen.scrollTop = screen.scrollHeight;
        })
        .catch(function () { /* retried on the next tick */ })
        .finally(function () { busy = false; });
    }
    window.setInterval(tick, POLL_MS);
  }

  // A receipt menu posts as soon as a status is picked.
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-receipt]") && event.target.value) event.target.form.submit();
  });

  // Enter sends, Shift+Enter starts a new line — as on a phone keyboard's send key.
  document.addEventListener("keydown", function (event) {
    if (event.target.id === "id_sim_body" && event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      if (event.target.value.trim()) event.target.form.requestSubmit();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var screen = document.querySelector("[data-simulator]");
    if (screen) start(screen);
    var body = document.getElementById("id_sim_body");
    if (body) body.focus();
  });
})();
