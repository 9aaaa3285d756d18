// Idle sign-out on the screen, not only on the server: after the organisation's idle timeout
// with no keyboard, mouse or touch activity, the page is replaced by the sign-in page, so
// patient information is not left on an unattended screen. While the person works, the
// session is kept alive with a small ping (at most once a minute).
(function () {
  "use strict";
  var body = document.body;
  var timeout = Number(body.dataset.idleTimeout || 0) * 1000;
  var pingUrl = body.dataset.idlePing;
  if (!timeout || !pingUrl) return;
  var PING_EVERY = 60 * 1000;
  var lastActivity = Date.now();
  var lastPing = Date.now();

  function activity() {
    lastActivity = Date.now();
  }
  ["keydown", "mousedown", "mousemove", "touchstart", "scroll"].forEach(function (name) {
    document.addEventListener(name, activity, { passive: true });
  });

  function ping() {
    lastPing = Date.now();
    fetch(pingUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": body.dataset.csrf || "" },
    }).then(function (response) {
      // Signed out elsewhere (or everywhere): show the sign-in page now.
      if (response.redirected || response.status === 403) window.location.assign(window.location.href);
    }).catch(function () { /* offline: the server still enforces the timeout */ });
  }

  window.setInterval(function () {
    var now = Date.now();
    if (now - lastActivity > timeout) {
      // The server has ended the session by now; reloading shows the sign-in page.
      window.location.assign(window.location.href);
    } else if (lastActivity > lastPing && now - lastPing >= PING_EVERY) {
      ping();
    }
  }, 5000);
})();
