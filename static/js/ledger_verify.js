// "Verify now" on the ledger explorer: start the job without leaving the page, then poll its
// status (JSON) and move the progress bar until it is done or failed.
(function () {
  const form = document.getElementById("verify-form"), box = document.getElementById("verify-progress");
  if (!form || !box) return;
  const bar = document.getElementById("verify-bar"), text = document.getElementById("verify-text");
  function show(st) {
    bar.value = st.percent; bar.textContent = st.percent + "%";
    if (st.state === "done") text.textContent = `Passed: ${st.done} entries and every checkpoint verified` +
      (st.report && st.report.seconds !== undefined ? ` in ${st.report.seconds} s.` : ".");
    else if (st.state === "failed") text.textContent = "FAILED: " + (st.error || (st.report && st.report.failure &&
      `entry ${st.report.failure.index}: ${st.report.failure.reason || st.report.failure.message || JSON.stringify(st.report.failure)}`) || "see the server log");
    else text.textContent = `${st.state === "queued" ? "Waiting for a worker" : "Verifying"}: ${st.done} of ${st.total} entries…`;
    return st.state === "done" || st.state === "failed";
  }
  function poll(url) {
    fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(r => r.ok ? r.json() : Promise.reject(r.status))
      .then(st => { if (!show(st)) setTimeout(() => poll(url), 700); })
      .catch(() => { text.textContent = "Could not read the progress; reload the page."; });
  }
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    box.hidden = false; text.textContent = "Starting…";
    fetch(form.action, {method: "POST", body: new FormData(form), headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(r => r.ok ? r.json() : Promise.reject(r.status))
      .then(j => { box.dataset.statusUrl = j.status_url; poll(j.status_url); })
      .catch(() => { text.textContent = "Could not start the verification."; });
  });
  if (box.dataset.statusUrl) poll(box.dataset.statusUrl);
})();
