"""Accessibility checks run inside the page.

1. axe-core (WCAG 2.x A/AA rules) when `axe.min.js` is available: no violation of impact
   "serious" or "critical".
2. Always, a documented subset that needs nothing installed (so the check still means
   something where npm is missing):
   - every visible form control (input other than hidden/submit/button, select, textarea)
     has an accessible name: a <label for=id>, a wrapping <label>, aria-label or aria-labelledby;
   - exactly one <h1> per page;
   - every <img> has an alt attribute;
   - every visible text (elements with their own non-blank text nodes) has a contrast ratio
     of at least 4.5:1 against its effective background (3:1 for large text: >= 24px, or
     >= 18.66px bold), computed from the computed styles with the WCAG 2 relative luminance
     formula; the background is the first non-transparent ancestor background (white if none).
"""

from __future__ import annotations

from pathlib import Path

SUBSET_JS = r"""
() => {
  const problems = [];
  const visible = el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none"; };
  const describe = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.name ? "[name=" + el.name + "]" : "");
  // 1. labels
  for (const el of document.querySelectorAll("input, select, textarea")) {
    const t = (el.getAttribute("type") || "").toLowerCase();
    if (["hidden", "submit", "button", "reset", "image"].includes(t) || !visible(el)) continue;
    const named = (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) || el.closest("label")
      || (el.getAttribute("aria-label") || "").trim() || el.getAttribute("aria-labelledby");
    if (!named) problems.push("control without a label: " + describe(el));
  }
  // 2. one h1
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) problems.push(`page has ${h1} <h1> elements, expected 1`);
  // 3. alt text
  for (const img of document.querySelectorAll("img")) if (!img.hasAttribute("alt")) problems.push("img without alt: " + img.src.slice(0, 60));
  // 4. contrast
  const rgba = c => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return [0, 0, 0, 1];
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = ([r, g, b]) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = el => { for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) return c; } return [255, 255, 255, 1]; };
  const seen = new Set();
  for (const el of document.body.querySelectorAll("*")) {
    if (!visible(el) || ["SCRIPT", "STYLE", "NOSCRIPT"].includes(el.tagName)) continue;
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const s = getComputedStyle(el);
    if (el.closest(".visually-hidden, .skip")) continue;
    const fg = rgba(s.color), bg = background(el);
    // a semi-transparent text colour blends with its background
    const blend = fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3]));
    const L1 = lum(blend), L2 = lum(bg), ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight, 10) >= 700;
    const need = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    if (ratio < need) { const key = describe(el) + s.color + s.backgroundColor;
      if (!seen.has(key)) { seen.add(key); problems.push(`contrast ${ratio.toFixed(2)} < ${need} for ${describe(el)}: "${el.textContent.trim().slice(0, 40)}"`); } }
  }
  return problems;
}
"""


def subset_problems(page) -> list[str]:
    return page.evaluate(SUBSET_JS)


def axe_serious(page, axe_js: Path) -> list[str]:
    """Run axe-core in the page; return 'rule-id (impact): target …' for serious/critical ones."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluated, not added as an inline <script>, which the pages' CSP would refuse
        page.evaluate(axe_js.read_text() + "\n;0")
    result = page.evaluate(
        """async () => {
      const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
                                         resultTypes: ["violations"]});
      return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      targets: v.nodes.slice(0, 5).map(n => n.target.join(" "))}));
    }"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {', '.join(v['targets'])}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
