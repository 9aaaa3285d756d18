// Automatic logoff on the screen, not only on the server (HIPAA 164.312(a)(2)(iii)).
//
// Only the person's own actions keep the session: keys, clicks and touches make this script ping
// the server (at most once a minute). Polls of the inbox, threads and simulator send the
// X-CareRelay-Background header and never count. A minute before the organisation's idle timeout
// a dialog offers "Stay signed in"; when the server says the time is up, the page reloads and the
// server answers with the sign-in page and its "you were signed out" message.
//
// The remaining time comes from the server (session/status/, asked as a background request), so
// work in another tab of the same session counts, and asking never extends the session.
(function () {
  "use strict";
  var body = document.body;
  var timeout = Number(body.dataset.idleTimeout || 0) * 1000;
  var pingUrl = body.dataset.idlePing;
  var statusUrl = body.dataset.idleStatus;
  if (!timeout || !pingUrl || !statusUrl) return;
  var warnMs = Number(body.dataset.idleWarning || 60) * 1000;
  var PING_EVERY = 60 * 1000;
  var STATUS_EVERY = 5 * 1000;
  var lastActivity = 0;
  var lastPing = Date.now();
  var lastStatus = 0;
  var deadline = Date.now() + timeout; // the server's deadline as last learned
  var signingOut = false;

  var dialog = document.getElementById("idle-warning");
  var countdown = dialog ? dialog.querySelector("[data-idle-countdown]") : null;
  var stay = dialog ? dialog.querySelector("[data-idle-stay]") : null;
  var modal = dialog && window.bootstrap ? window.bootstrap.Modal.getOrCreateInstance(dialog) : null;
  var shown = false;

  function activity() {
    lastActivity = Date.now();
  }
  ["keydown", "mousedown", "touchstart"].forEach(function (name) {
    document.addEventListener(name, activity, { passive: true });
  });

  function signOut() {
    // The server ended the session (or does so on this request): it shows the sign-in page.
    if (signingOut) return;
    signingOut = true;
    window.location.assign(window.location.href);
  }

  function showWarning(left) {
    if (countdown) countdown.textContent = String(Math.max(0, Math.ceil(left / 1000)));
    if (!shown) {
      shown = true;
      if (modal) modal.show();
      else if (dialog) dialog.classList.add("show", "d-block");
    }
  }

  function hideWarning() {
    if (!shown) return;
    shown = false;
    if (modal) modal.hide();
    else if (dialog) dialog.classList.remove("show", "d-block");
  }

  function checkStatus() {
    lastStatus = Date.now();
    fetch(statusUrl, {
      credentials: "same-origin",
      headers: { "X-CareRelay-Background": "1", Accept: "application/json" },
    }).then(function (response) {
      if (response.status === 401 || response.redirected) {
        signOut();
        return null;
      }
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (!data) return;
      if (data.remaining_seconds <= 0) {
        signOut();
        return;
      }
      deadline = Date.now() + data.remaining_seconds * 1000;
      update();
    }).catch(function () { /* offline: the server still enforces the timeout */ });
  }

  function ping() {
    lastPing = Date.now();
    fetch(pingUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": body.dataset.csrf || "" },
    }).then(function (response) {
      // Signed out elsewhere (or everywhere): show the sign-in page now.
      if (response.redirected || response.status === 401 || response.status === 403) {
        signOut();
        return;
      }
      deadline = Date.now() + timeout;
      hideWarning();
    }).catch(function () { /* offline: the server still enforces the timeout */ });
  }

  function update() {
    var left = deadline - Date.now();
    if (left <= warnMs) showWarning(left);
    else hideWarning();
  }

  if (stay) {
    stay.addEventListener("click", function () {
      activity();
      ping();
    });
  }

  window.setInterval(function () {
    var now = Date.now();
    if (lastActivity > lastPing && now - lastPing >= PING_EVERY && !shown) ping();
    var left = deadline - now;
    // Near the deadline, ask the server: another tab may have kept the session alive.
    if (left <= warnMs + STATUS_EVERY && now - lastStatus >= STATUS_EVERY) checkStatus();
    update();
  }, 1000);
})();
