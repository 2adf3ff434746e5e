// ort_compare.js runs ONNX files that advtest wrote in onnxruntime (the
// npm package onnxruntime-node) and compares their first output with
// advtest's own, as testdata/gen/exportmodels writes them: NAME.onnx,
// NAME.input.npy (float32) and NAME.expected.npy (float32). A second
// runtime loading advtest's models and computing the same numbers is the
// check that hardened and rewritten models work outside advtest.
//
// Usage (onnxruntime-node installed in a scratch folder, not the repo):
//   (cd /tmp/ort && npm install onnxruntime-node@1.30)
//   NODE_PATH=/tmp/ort/node_modules node testdata/gen/ort_compare.js DIR/*.onnx
// Prints one line per model; exits 1 if any model fails or differs by more
// than 1e-4 absolute + 1e-4 relative.
"use strict";
const fs = require("fs");
const ort = require("onnxruntime-node");

// readNPY reads a little-endian float32 C-order .npy file.
function readNPY(path) {
  const buf = fs.readFileSync(path);
  if (buf.toString("latin1", 1, 6) !== "NUMPY") throw new Error(`${path}: not an .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12);
  const header = buf.toString("latin1", start, start + hlen);
  if (!/'descr': '<f4'/.test(header) || /'fortran_order': True/.test(header)) {
    throw new Error(`${path}: want little-endian float32 in C order, header ${header.trim()}`);
  }
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(",").map((s) => s.trim()).filter((s) => s).map(Number);
  const off = start + hlen;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + buf.length));
  return { shape, data };
}

async function check(path) {
  const base = path.replace(/\.onnx$/, "");
  const x = readNPY(base + ".input.npy");
  const want = readNPY(base + ".expected.npy");
  const sess = await ort.InferenceSession.create(path);
  const out = await sess.run({ [sess.inputNames[0]]: new ort.Tensor("float32", x.data, x.shape) });
  const got = out[sess.outputNames[0]];
  if (got.data.length !== want.data.length) throw new Error(`output has ${got.data.length} values, advtest's ${want.data.length}`);
  let maxDiff = 0;
  for (let i = 0; i < want.data.length; i++) {
    const d = Math.abs(got.data[i] - want.data[i]);
    maxDiff = Math.max(maxDiff, d);
    if (!(d <= 1e-4 + 1e-4 * Math.abs(want.data[i]))) throw new Error(`element ${i}: onnxruntime ${got.data[i]}, advtest ${want.data[i]}`);
  }
  return `onnxruntime ${ort.env.versions.common} matches advtest on ${x.shape[0]} samples (max |diff| ${maxDiff.toExponential(2)})`;
}

(async () => {
  let failed = 0;
  for (const path of process.argv.slice(2)) {
    try {
      console.log(`OK   ${path}: ${await check(path)}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${path}: ${e.message}`);
    }
  }
  process.exit(failed ? 1 : 0);
})();
