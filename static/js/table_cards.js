// At phone widths the CSS turns tables into cards (static/css/site.css); each cell shows its
// column's header as a label. Cells a template already labelled (data-label) are left alone.
(function () {
  for (const table of document.querySelectorAll("table")) {
    const heads = [...table.querySelectorAll("thead th")].map(th => th.textContent.trim());
    if (!heads.length) continue;
    for (const row of table.querySelectorAll("tbody tr")) {
      let col = 0;
      for (const cell of row.children) {
        if (!cell.hasAttribute("data-label") && !cell.hasAttribute("colspan")) cell.setAttribute("data-label", heads[col] || "");
        col += parseInt(cell.getAttribute("colspan") || "1", 10);
      }
    }
  }
})();
