// The tags panel: every attribute of the instance on screen (DICOM JSON, PS3.18 F.2), as text.
// Values come from the file and are untrusted: they only ever become textContent.

const MAX_VALUE = 240;
let names = null; // tag -> keyword, fetched when the panel is first opened

export async function loadNames(url) {
  if (names) return names;
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    names = response.ok ? await response.json() : {};
  } catch {
    names = {};
  }
  return names;
}

function clip(text) {
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE)}…` : text;
}

function valueText(element) {
  if (!element) return "";
  if (element.InlineBinary !== undefined || element.BulkDataURI !== undefined) return "(binary data)";
  const values = element.Value ?? [];
  if (element.vr === "SQ") return `${values.length} item${values.length === 1 ? "" : "s"}`;
  if (element.vr === "PN") {
    return clip(values.map((v) => v?.Alphabetic ?? "").join("\\"));
  }
  return clip(values.map((v) => (v === null ? "" : String(v))).join("\\"));
}

function tagLabel(tag) {
  return `(${tag.slice(0, 4)},${tag.slice(4)})`;
}

function rows(dataset, depth, out) {
  for (const tag of Object.keys(dataset).sort()) {
    const element = dataset[tag];
    out.push({ tag, depth, vr: element?.vr ?? "", value: valueText(element) });
    if (element?.vr === "SQ" && depth < 3) {
      (element.Value ?? []).forEach((item, index) => {
        out.push({ tag: "", depth: depth + 1, vr: "", value: `Item ${index + 1}` });
        if (item && typeof item === "object") rows(item, depth + 2, out);
      });
    }
  }
  return out;
}

/** Fills `tbody` with the rows of `dataset` whose tag, keyword or value contains `filter`. */
export function renderTags(tbody, dataset, filter = "") {
  const needle = filter.trim().toLowerCase();
  const fragment = document.createDocumentFragment();
  for (const row of rows(dataset ?? {}, 0, [])) {
    const keyword = row.tag ? (names?.[row.tag] ?? "") : "";
    const text = `${tagLabel(row.tag)} ${keyword} ${row.value}`.toLowerCase();
    if (needle && !text.includes(needle)) continue;
    const tr = document.createElement("tr");
    tr.className = `depth-${Math.min(row.depth, 5)}`;
    const cells = [row.tag ? tagLabel(row.tag) : "", keyword, row.vr, row.value];
    for (const cell of cells) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.append(td);
    }
    fragment.append(tr);
  }
  tbody.replaceChildren(fragment);
}
