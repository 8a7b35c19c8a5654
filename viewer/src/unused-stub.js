// Stands in for modules the viewer never runs but its libraries import: xmlbuilder2 (vtk.js's
// XML mesh reader/writer, node-only). Calling it is a bug.
export function create() {
  throw new Error("Not available in the viewer.");
}
