// scripts/onnxruntime/run.js: run an ONNX file in ONNX Runtime (CPU, one intra-op thread) on
// inputs from a binary file and write the outputs to another, for deepjet's export tests.
//
//   node scripts/onnxruntime/run.js model.onnx inputs.bin outputs.bin
//
// Both files are a sequence of float32 tensors, little-endian, each one record:
//   uint32 name_length, name (UTF-8), uint32 rank, rank x uint32 dims, prod(dims) x float32 values
// inputs.bin holds the model's inputs by name; outputs.bin gets every output of the model, in the
// model's output order. Exit status 0 on success; anything else prints the error and exits 1.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

function readTensors(file) {
  const buffer = fs.readFileSync(file);
  const tensors = {};
  let at = 0;
  const u32 = () => { const v = buffer.readUInt32LE(at); at += 4; return v; };
  while (at < buffer.length) {
    const nameLength = u32();
    const name = buffer.toString('utf8', at, at + nameLength);
    at += nameLength;
    const dims = Array.from({ length: u32() }, u32);
    const size = dims.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    for (let i = 0; i < size; ++i, at += 4) values[i] = buffer.readFloatLE(at);
    tensors[name] = new ort.Tensor('float32', values, dims);
  }
  return tensors;
}

function writeTensors(file, names, tensors) {
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  for (const name of names) {
    const tensor = tensors[name];
    const nameBytes = Buffer.from(name, 'utf8');
    parts.push(u32(nameBytes.length), nameBytes, u32(tensor.dims.length), ...tensor.dims.map(u32));
    const values = Buffer.alloc(4 * tensor.data.length);
    tensor.data.forEach((v, i) => values.writeFloatLE(v, 4 * i));
    parts.push(values);
  }
  fs.writeFileSync(file, Buffer.concat(parts));
}

async function main() {
  const [model, inputs, outputs] = process.argv.slice(2);
  if (!outputs) throw new Error('usage: node run.js model.onnx inputs.bin outputs.bin');
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const results = await session.run(readTensors(inputs));
  writeTensors(outputs, session.outputNames, results);
}

main().catch((error) => { console.error(`run.js: ${error.message || error}`); process.exit(1); });
