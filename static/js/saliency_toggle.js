// The scan page's saliency overlay toggle: draws the saliency map (a colour-map PNG with
// alpha, served by the consent-gated /scans/<id>/saliency.png) over the preview. Delegated
// on the document because the result panel is fetched in place when processing ends.
(function () {
  "use strict";
  document.addEventListener("change", function (ev) {
    var box = ev.target;
    if (!box || box.id !== "saliency-toggle") return;
    var overlay = document.getElementById("saliency-overlay");
    if (!overlay) return;
    if (box.checked && !overlay.getAttribute("src")) overlay.setAttribute("src", overlay.dataset.src);
    overlay.hidden = !box.checked;
  });
})();
