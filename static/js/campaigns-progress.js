// The campaign page's live progress: polls the campaign's progress.json every few seconds while
// it is running (a background poll: X-CareRelay-Background keeps it out of the idle timeout) and
// updates the bar, the counts and the funnel's figures. The JSON holds counts only, never PHI.
(function () {
  "use strict";
  var card = document.querySelector("[data-progress-url]");
  if (!card) { return; }
  var url = card.getAttribute("data-progress-url");
  var POLL_HEADERS = { Accept: "application/json", "X-CareRelay-Background": "1" };
  var INTERVAL_MS = 2000;
  var FINAL = { completed: true, cancelled: true, draft: true };

  function setText(selector, text) {
    var node = card.querySelector(selector);
    if (node) { node.textContent = text; }
  }

  function render(data) {
    var bar = card.querySelector("[data-testid=progress-bar]");
    if (bar) { bar.value = data.percent; bar.textContent = data.percent + "%"; }
    setText("[data-field=percent]", data.percent + "%");
    Object.keys(data.counts).forEach(function (state) {
      setText("[data-count=" + state + "]", String(data.counts[state]));
    });
    setText("[data-field=replied]", String(data.replied));
    setText("[data-field=opted_out]", data.opted_out + " (" + data.opt_out_rate + "%)");
    data.funnel.forEach(function (stage) {
      var group = card.querySelector("[data-stage=" + stage.key + "]");
      if (!group) { return; }
      group.setAttribute("data-count", String(stage.count));
      var rect = group.querySelector("rect");
      if (rect) { rect.setAttribute("width", String(Math.round(stage.percent * 2.8))); }
      setText("[data-testid=funnel-" + stage.key + "]", stage.count + " (" + stage.percent + "%)");
    });
    card.setAttribute("data-state", data.state);
  }

  function poll() {
    fetch(url, { headers: POLL_HEADERS, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        render(data);
        // A finished campaign still gathers delivery receipts and replies for a while: keep a slow poll.
        window.setTimeout(poll, FINAL[data.state] ? INTERVAL_MS * 5 : INTERVAL_MS);
      })
      .catch(function () { window.setTimeout(poll, INTERVAL_MS * 5); });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
