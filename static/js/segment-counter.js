// Live SMS segment counter: the same rules as messaging/segments.py (GSM-7 / UCS-2).
//
// The GSM-7 tables come from the server (data-gsm-basic / data-gsm-extension, as comma-
// separated code points) so there is one source of truth for the alphabet.
//   <span data-segment-counter data-for="id_body" data-gsm-basic="64,163,…" data-gsm-extension="12,94,…">
(function () {
  "use strict";

  var LIMITS = { "GSM-7": { single: 160, multipart: 153 }, "UCS-2": { single: 70, multipart: 67 } };

  function tableFrom(codePoints) {
    var set = new Set();
    String(codePoints || "").split(",").forEach(function (part) {
      if (part !== "") set.add(String.fromCodePoint(Number(part)));
    });
    return set;
  }

  // Count like count_segments(): characters are code points (Array.from splits by code point).
  function count(text, basic, extension) {
    var chars = Array.from(text);
    var gsm = chars.every(function (c) { return basic.has(c) || extension.has(c); });
    var encoding = gsm ? "GSM-7" : "UCS-2";
    var costs = chars.map(function (c) {
      if (gsm) return extension.has(c) ? 2 : 1;
      return c.codePointAt(0) > 0xFFFF ? 2 : 1;  // a surrogate pair: two UTF-16 units
    });
    var units = costs.reduce(function (a, b) { return a + b; }, 0);
    var limits = LIMITS[encoding];
    if (units <= limits.single) {
      return { encoding: encoding, segments: chars.length ? 1 : 0, characters: chars.length, units: units,
               remaining: limits.single - units, unit_limit: limits.single };
    }
    // Fill parts greedily; a character that does not fit whole starts the next part.
    var capacity = limits.multipart, segments = 1, used = 0;
    costs.forEach(function (cost) {
      if (used + cost > capacity) { segments += 1; used = 0; }
      used += cost;
    });
    return { encoding: encoding, segments: segments, characters: chars.length, units: units,
             remaining: capacity - used, unit_limit: capacity };
  }

  function describe(info) {
    if (!info.characters) return "0 characters · 0 SMS";
    var text = info.characters + (info.characters === 1 ? " character" : " characters") + " · " +
      info.segments + " SMS · " + info.remaining + " left";
    // Unicode (emoji, curly quotes…) cuts an SMS from 160 to 70 characters: say why it costs more.
    if (info.encoding === "UCS-2") text += " · Unicode";
    return text;
  }

  function attach(counter) {
    var input = document.getElementById(counter.dataset.for);
    if (!input) return;
    var basic = tableFrom(counter.dataset.gsmBasic);
    var extension = tableFrom(counter.dataset.gsmExtension);
    function update() {
      var info = count(input.value, basic, extension);
      counter.textContent = describe(info);
      counter.dataset.segments = String(info.segments);
      counter.dataset.encoding = info.encoding;
      counter.classList.toggle("text-warning-emphasis", info.encoding === "UCS-2" || info.segments > 1);
      counter.title = info.encoding === "UCS-2"
        ? "Emoji or special characters switch the message to Unicode: 70 characters per SMS instead of 160."
        : "";
    }
    input.addEventListener("input", update);
    update();
    // Exposed for the browser test comparing this counter with messaging/segments.py.
    counter.countSegments = function (text) { return count(text, basic, extension); };
  }

  window.CareRelaySegments = {
    count: function (text) {
      var counter = document.querySelector("[data-segment-counter]");
      if (!counter) return null;
      return count(text, tableFrom(counter.dataset.gsmBasic), tableFrom(counter.dataset.gsmExtension));
    },
  };
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-segment-counter]").forEach(attach);
  });
})();
