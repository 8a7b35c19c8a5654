// Window presets (width / centre in Hounsfield units for CT; shown for any modality) and the
// ones an instance carries itself (Window Center / Width, with their explanations).

export const PRESETS = [
  { id: "soft-tissue", label: "Soft tissue", width: 400, center: 40 },
  { id: "lung", label: "Lung", width: 1500, center: -600 },
  { id: "bone", label: "Bone", width: 2000, center: 300 },
  { id: "brain", label: "Brain", width: 80, center: 40 },
  { id: "mediastinum", label: "Mediastinum", width: 350, center: 50 },
  { id: "liver", label: "Liver", width: 150, center: 30 },
];

function numbers(element) {
  return (element?.Value ?? []).map(Number).filter(Number.isFinite);
}

/** The instance's own windows: [{id, label, width, center}] from (0028,1050/1051/1055). */
export function filePresets(instance) {
  const centers = numbers(instance["00281050"]);
  const widths = numbers(instance["00281051"]);
  const names = instance["00281055"]?.Value ?? [];
  const out = [];
  for (let i = 0; i < Math.min(centers.length, widths.length); i += 1) {
    if (widths[i] < 1) continue;
    const name = typeof names[i] === "string" && names[i].trim() ? names[i].trim() : `Window ${i + 1}`;
    out.push({ id: `file-${i}`, label: `From the file: ${name}`, width: widths[i], center: centers[i] });
  }
  return out;
}

// DICOM's linear VOI function (PS3.3 C.11.2.1.2), as Cornerstone3D applies it
export function toRange(width, center) {
  return { lower: center - 0.5 - (width - 1) / 2, upper: center - 0.5 + (width - 1) / 2 };
}

export function fromRange(range) {
  return { width: Math.abs(range.upper - range.lower) + 1, center: (range.lower + range.upper + 1) / 2 };
}
