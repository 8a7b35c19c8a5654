// Bundles the viewer into ../static/viewer/ (committed): viewer.js (ES module), decode-worker.js
// (the DICOM decode worker of @cornerstonejs/dicom-image-loader), viewer.css, tag-names.json,
// and BUILD.json (versions and the SHA-256 of package-lock.json the bundle was built from).
// Run: npm ci && npm run build (make viewer). Deterministic for a given lock file.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, "../static/viewer");
const loader = join(here, "node_modules/@cornerstonejs/dicom-image-loader/dist/esm");
const CODEC = /^@cornerstonejs\/codec-[a-z0-9-]+\/(decodewasmjs|wasmjs)$/;

// Source edits, each checked (the build fails if the pinned library no longer has the text):
// - the loader's worker is the bundle's sibling decode-worker.js;
// - the tools' measurement labels get their style through the CSSOM, which the page's
//   Content-Security-Policy allows, instead of a style attribute, which it refuses.
const PATCHES = [
  {
    file: /dicom-image-loader[\\/]dist[\\/]esm[\\/]init\.js$/,
    from: "new URL('./decodeImageFrameWorker.js', import.meta.url)",
    to: "new URL('./decode-worker.js', import.meta.url)",
  },
  {
    file: /tools[\\/]dist[\\/]esm[\\/]drawingSvg[\\/]drawTextBox\.js$/,
    from: "textElement.setAttribute('style', combinedStyle);",
    to: "textElement.style.cssText = combinedStyle;",
  },
];

// the WebAssembly codecs are replaced by a stub (see src/codec-stub.js), and xmlbuilder2
// (vtk.js's XML meshes, node-only, never used here) by another
const plugin = {
  name: "qmc-viewer",
  setup(build) {
    build.onResolve({ filter: CODEC }, () => ({ path: join(here, "src/codec-stub.js") }));
    build.onResolve({ filter: /^xmlbuilder2$/ }, () => ({ path: join(here, "src/unused-stub.js") }));
    for (const patch of PATCHES) {
      build.onLoad({ filter: patch.file }, (args) => {
        const text = readFileSync(args.path, "utf8");
        if (!text.includes(patch.from)) throw new Error(`${args.path} changed: cannot apply "${patch.from}"`);
        return { contents: text.replace(patch.from, patch.to), loader: "js" };
      });
    }
  },
};

const common = {
  bundle: true,
  format: "esm",
  target: ["es2022"],
  minify: true,
  legalComments: "none", // the licences of every bundled package: THIRD-PARTY-NOTICES.txt
  metafile: true,
  logLevel: "warning",
  plugins: [plugin],
  define: { "process.env.NODE_ENV": '"production"' },
};

/** name@version, licence and licence text of every package with a file in the bundles. */
function notices(metafiles) {
  const dirs = new Set();
  for (const meta of metafiles) {
    for (const input of Object.keys(meta.inputs)) {
      const m = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
      if (m) dirs.add(m[1]);
    }
  }
  const parts = [];
  for (const dir of [...dirs].sort()) {
    const pkg = JSON.parse(readFileSync(join(here, dir, "package.json"), "utf8"));
    const file = readdirSync(join(here, dir)).find((n) => /^(licen[cs]e|copying)/i.test(n));
    const text = file ? readFileSync(join(here, dir, file), "utf8").trim() : "(no licence file in the package)";
    parts.push(`${pkg.name}@${pkg.version} (${pkg.license ?? "see below"})\n\n${text}\n`);
  }
  return `Third-party software in static/viewer/ (built by viewer/build.mjs)\n\n${parts.join("\n---\n\n")}`;
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const bundles = [
  await esbuild.build({ ...common, entryPoints: { viewer: join(here, "src/main.js") }, outdir: out }),
  await esbuild.build({
    ...common,
    entryPoints: { "decode-worker": join(loader, "decodeImageFrameWorker.js") },
    outdir: out,
  }),
];
await esbuild.build({ ...common, entryPoints: { viewer: join(here, "src/viewer.css") }, outdir: out });
copyFileSync(join(here, "src/tag-names.json"), join(out, "tag-names.json"));
writeFileSync(join(out, "THIRD-PARTY-NOTICES.txt"), notices(bundles.map((b) => b.metafile)));

const lock = JSON.parse(readFileSync(join(here, "package-lock.json"), "utf8"));
const version = (name) => lock.packages[`node_modules/${name}`]?.version;
const files = {};
for (const name of readdirSync(out).sort()) {
  files[name] = createHash("sha256").update(readFileSync(join(out, name))).digest("hex");
}
const build = {
  viewer: "Cornerstone3D",
  packages: Object.fromEntries(
    ["@cornerstonejs/core", "@cornerstonejs/tools", "@cornerstonejs/dicom-image-loader", "@kitware/vtk.js", "esbuild"].map(
      (n) => [n, version(n)],
    ),
  ),
  package_lock_sha256: createHash("sha256").update(readFileSync(join(here, "package-lock.json"))).digest("hex"),
  sources_sha256: createHash("sha256")
    .update(
      readdirSync(join(here, "src"))
        .sort()
        .map((n) => `${n}\0${readFileSync(join(here, "src", n), "utf8")}\0`)
        .join("") + readFileSync(join(here, "build.mjs"), "utf8"),
    )
    .digest("hex"),
  files,
};
writeFileSync(join(out, "BUILD.json"), `${JSON.stringify(build, null, 2)}\n`);
