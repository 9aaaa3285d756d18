// Import wizard: polls the JSON status endpoint to move the progress bar, then opens the result;
// on the result page, draws the outcome chart. No inline script anywhere (CSP).
(function () {
  "use strict";

  function poll(box) {
    var bar = box.querySelector("[data-progress]");
    var text = box.querySelector("[data-import-text]");
    function tick() {
      fetch(box.dataset.importStatus, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("status " + r.status); return r.json(); })
        .then(function (s) {
          bar.dataset.progress = String(s.percent);
          window.CareRelay.paintProgress(box);
          text.textContent = s.label + " — " + s.processed + (s.total ? " of " + s.total : "") + " rows · " +
            s.created + " created, " + s.updated + " updated, " + s.skipped + " skipped, " + s.failed + " failed";
          if (s.finished) { window.location.assign(s.result_url); } else { window.setTimeout(tick, 1000); }
        })
        .catch(function () {
          text.textContent = "Lost contact with the server — retrying…";
          window.setTimeout(tick, 3000);
        });
    }
    tick();
  }

  function chart(canvas) {
    if (!window.Chart) return;
    var d = canvas.dataset;
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: ["Created", "Updated", "Skipped", "Failed"],
        datasets: [{ label: "Rows", data: [d.created, d.updated, d.skipped, d.failed].map(Number),
          backgroundColor: ["#198754", "#0d6efd", "#6c757d", "#dc3545"] }]
      },
      options: { animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.querySelector("[data-import-status]");
    if (box) poll(box);
    var canvas = document.getElementById("import-chart");
    if (canvas) chart(canvas);
  });
})();
