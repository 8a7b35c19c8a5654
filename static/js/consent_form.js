// plain-language preview of what will be shared, updated as the patient fills the form
(function () {
  const form = document.getElementById("grant-form"), out = document.getElementById("grant-summary");
  function checked(name) { return [...form.querySelectorAll(`input[name=${name}]:checked`)].map(e => e.parentElement.textContent.trim().toLowerCase()); }
  function update() {
    const who = form.grantee.options[form.grantee.selectedIndex].text;
    const days = form.days.value;
    const scope = (form.querySelector("input[name=scope_kind]:checked") || {}).parentElement;
    out.textContent = form.grantee.value ? `${who} will be able to ${checked("actions").join(", ") || "(choose an action)"} — ` +
      `${scope ? scope.textContent.trim().toLowerCase() : ""} — for ${checked("purposes").join(", ") || "(choose a purpose)"}, ` +
      (days ? `for ${days} days.` : "until you revoke it.") : "";
  }
  form.addEventListener("change", update); form.addEventListener("input", update); update();
})();
