// Follows a scan's pipeline status without reloading the page: polls the JSON status
// endpoint, moves the progress bar, and when the scan is done fetches the result panel.
(function () {
  "use strict";
  var box = document.getElementById("scan-progress");
  if (!box) return;
  var bar = document.getElementById("scan-bar");
  var badge = document.getElementById("scan-status-badge");
  var failure = document.getElementById("scan-failure");
  var retry = document.getElementById("scan-retry");
  var result = document.getElementById("scan-result");
  var delay = 700;

  function render(s) {
    bar.value = s.progress;
    bar.textContent = s.progress + "%";
    badge.textContent = s.status_label;
    badge.className = "badge " + (s.done ? "ok" : s.failed ? "bad" : "warn");
    failure.textContent = s.failure_reason || "";
    retry.hidden = !s.failed;
  }

  function loadResult() {
    fetch(box.dataset.resultUrl, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { if (html) result.innerHTML = html; });
  }

  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (s) {
        render(s);
        if (s.done) { loadResult(); return; }
        if (s.failed) return;
        delay = Math.min(delay * 1.2, 3000);
        setTimeout(poll, delay);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }

  if (badge && !/^(Done|Failed)$/.test(badge.textContent.trim())) setTimeout(poll, delay);
})();
