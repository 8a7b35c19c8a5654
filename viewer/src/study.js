// A study's instances from the portal's DICOMweb (WADO-RS metadata), grouped into series and
// turned into wadors image ids (one per frame) for @cornerstonejs/dicom-image-loader.

const T = {
  study: "0020000D",
  series: "0020000E",
  sop: "00080018",
  seriesNumber: "00200011",
  instanceNumber: "00200013",
  modality: "00080060",
  seriesDescription: "0008103E",
  frames: "00280008",
  rows: "00280010",
};

export function first(instance, tag) {
  const value = instance[tag]?.Value;
  return Array.isArray(value) && value.length ? value[0] : undefined;
}

export class ProblemError extends Error {}

const enc = encodeURIComponent;

/** A problem+json's detail, or the status line. */
async function problem(response) {
  try {
    const body = await response.json();
    if (body && typeof body.detail === "string") return body.detail;
  } catch {
    // not JSON: fall through
  }
  return `The server answered ${response.status} ${response.statusText}.`;
}

export async function fetchStudy(base, studyUid) {
  const response = await fetch(`${base}/studies/${encodeURIComponent(studyUid)}/metadata`, {
    headers: { Accept: "application/dicom+json" },
    credentials: "same-origin",
  });
  if (!response.ok) throw new ProblemError(await problem(response));
  return response.json();
}

function byNumber(a, b) {
  return (a.number ?? 2 ** 31) - (b.number ?? 2 ** 31) || (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0);
}

/**
 * [{uid, number, modality, description, frames: [{imageId, instance, frame}]}], ordered by
 * series number, each series' frames by instance number then frame. Instances without pixel
 * data (no Rows) are left out.
 */
export function seriesOf(instances, base, studyUid) {
  const origin = new URL(base, window.location.href).href.replace(/\/$/, "");
  const series = new Map();
  for (const instance of instances) {
    if (first(instance, T.rows) === undefined) continue;
    const uid = first(instance, T.series);
    const sop = first(instance, T.sop);
    if (!uid || !sop) continue;
    if (!series.has(uid)) {
      series.set(uid, {
        uid,
        number: first(instance, T.seriesNumber),
        modality: first(instance, T.modality) ?? "",
        description: first(instance, T.seriesDescription) ?? "",
        instances: [],
      });
    }
    series.get(uid).instances.push({ uid: sop, number: first(instance, T.instanceNumber), instance });
  }
  const out = [...series.values()].sort(byNumber);
  for (const s of out) {
    s.instances.sort(byNumber);
    s.frames = [];
    for (const { uid, instance } of s.instances) {
      const url = `${origin}/studies/${enc(studyUid)}/series/${enc(s.uid)}/instances/${enc(uid)}/frames/`;
      const count = Math.max(1, Number(first(instance, T.frames)) || 1);
      for (let n = 1; n <= count; n += 1) {
        s.frames.push({ imageId: `wadors:${url}${n}`, instance, sop: uid, frame: n, count });
      }
    }
    delete s.instances;
  }
  return out;
}
