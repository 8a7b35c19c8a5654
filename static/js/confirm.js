// forms with data-confirm ask before they submit (no inline handlers: the CSP forbids them)
document.addEventListener("submit", function (event) {
  const message = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});
