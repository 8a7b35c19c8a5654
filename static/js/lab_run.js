// Follows a quantum-lab run without reloading: polls the JSON status endpoint, moves the
// progress bar, and when the run is done shows the figure and the measured-vs-ideal table.
(function () {
  "use strict";
  var box = document.getElementById("lab-run");
  if (!box) return;
  var bar = document.getElementById("lab-bar");
  var badge = document.getElementById("lab-badge");
  var message = document.getElementById("lab-message");
  var result = document.getElementById("lab-result");
  var table = document.getElementById("lab-table");
  var figure = document.getElementById("lab-figure");
  var delay = 600;

  function fmt(v) {
    if (v === null || v === undefined) return "\u2014";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(6);
    if (typeof v === "boolean") return v ? "True" : "False";
    return String(v);
  }

  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function showResult(s) {
    table.textContent = "";
    (s.comparison || []).forEach(function (row) {
      var tr = document.createElement("tr");
      cell(tr, row.quantity);
      cell(tr, fmt(row.measured));
      cell(tr, fmt(row.ideal));
      cell(tr, row.target);
      var td = cell(tr, "");
      if (row.within === null) {
        td.textContent = "\u2014";
      } else {
        var b = document.createElement("span");
        b.className = "badge " + (row.within ? "ok" : "bad");
        b.textContent = row.within ? "yes" : "no";
        td.appendChild(b);
      }
      table.appendChild(tr);
    });
    if (s.figure_url) figure.src = s.figure_url;
    result.hidden = false;
  }

  function render(s) {
    bar.value = s.progress;
    bar.textContent = s.progress + "%";
    badge.textContent = s.status_label;
    badge.className = "badge " + (s.done ? "ok" : s.failed ? "bad" : "warn");
    message.textContent = s.message || "";
  }

  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (s) {
        render(s);
        if (s.done) { showResult(s); return; }
        if (s.failed) return;
        delay = Math.min(delay * 1.2, 2500);
        setTimeout(poll, delay);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }

  if (!/^(Done|Failed)$/.test(badge.textContent.trim())) setTimeout(poll, delay);
})();
