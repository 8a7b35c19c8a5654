// Stands in for the WebAssembly codecs of @cornerstonejs/dicom-image-loader: the portal's
// WADO-RS frames are always uncompressed (Explicit VR Little Endian; the server decodes any
// compressed original), so the viewer ships no codec and its page needs no 'wasm-unsafe-eval'.
export default function codecUnavailable() {
  return Promise.reject(
    new Error("Compressed frames are not decoded in the browser: the portal serves frames uncompressed."),
  );
}
