// ONNX Runtime's side of the benchmark suite: jets/s of ONNX files at batch 1 and 1024 on one
// intra-op thread (as CMSSW runs its taggers), printed as JSON on stdout (progress on stderr).
//
//   node benchmarks/suite/onnxruntime_benchmarks.js [--quick] [--batches 1,30,1024] NAME=FILE.onnx [...]
//
// Batch sizes: 1 and 1024 unless --batches lists others (keys batch_<size> in the JSON).
// ONNX Runtime is npm's onnxruntime-node, installed by `scripts/install-dependencies.sh
// --onnxruntime` into scripts/onnxruntime/node_modules. Inputs are random normal values in the
// shapes the file declares, with the dynamic batch axis set to the batch size (the speed does not
// depend on the values). Each figure is the best of 5 repetitions (2 with --quick) of at least
// 0.25 s of back-to-back run() calls, per wall-clock second and per second of this process's CPU
// time (process.cpuUsage), like deepjet_benchmarks and torch_benchmarks.py.
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '..', '..', 'scripts', 'onnxruntime', 'node_modules', 'onnxruntime-node'));

const quick = process.argv.includes('--quick');
const repetitions = quick ? 2 : 5;
const minimumSeconds = quick ? 0.05 : 0.25;
const batchesAt = process.argv.indexOf('--batches');
const batches = batchesAt > 0 ? process.argv[batchesAt + 1].split(',').map(Number) : [1, 1024];
if (batches.some((b) => !Number.isInteger(b) || b < 1)) throw new Error('onnxruntime_benchmarks: --batches takes sizes like 1,30,1024');
const isOption = (a, i) => a === '--quick' || (batchesAt > 0 && (i === batchesAt || i === batchesAt + 1));
const models = process.argv.slice(2).filter((a, i) => !isOption(a, i + 2)).map((a) => {
  const equals = a.indexOf('=');
  if (equals < 0) throw new Error(`onnxruntime_benchmarks: expected NAME=FILE.onnx, got '${a}'`);
  return { name: a.slice(0, equals), file: a.slice(equals + 1) };
});

// A deterministic normal generator (the speed does not depend on the values; reproducibility does no harm).
let state = 12345;
function normal() {
  state = (state * 1103515245 + 12345) % 2147483648;
  const u = (state + 1) / 2147483649;
  state = (state * 1103515245 + 12345) % 2147483648;
  const v = (state + 1) / 2147483649;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function feeds(session, batch) {
  const result = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find((m) => m.name === name) : undefined;
    const dims = (meta && meta.shape ? meta.shape : []).map((d, i) => (typeof d === 'number' && d > 0 && i > 0 ? d : batch));
    if (dims.length === 0) throw new Error(`onnxruntime_benchmarks: input '${name}' has no shape`);
    const size = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; ++i) data[i] = normal();
    result[name] = new ort.Tensor('float32', data, dims);
  }
  return result;
}

async function measure(session, batch) {
  const input = feeds(session, batch);
  await session.run(input);  // warm-up: allocations, kernel selection
  let bestWall = 0;
  let bestCpu = 0;
  for (let r = 0; r < repetitions; ++r) {
    const cpu0 = process.cpuUsage();
    const wall0 = process.hrtime.bigint();
    let calls = 0;
    let elapsed = 0;
    do {
      await session.run(input);
      ++calls;
      elapsed = Number(process.hrtime.bigint() - wall0) * 1e-9;
    } while (elapsed < minimumSeconds);
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) * 1e-6;
    bestWall = Math.max(bestWall, (calls * batch) / elapsed);
    bestCpu = Math.max(bestCpu, (calls * batch) / cpuSeconds);
  }
  return { wall: bestWall, cpu: bestCpu };
}

(async () => {
  const out = { engine: 'onnxruntime-node', version: ort.env.versions ? ort.env.versions.common : 'unknown', models: {} };
  for (const model of models) {
    const session = await ort.InferenceSession.create(model.file, {
      intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
    });
    out.models[model.name] = { file: model.file };
    for (const batch of batches) {
      process.stderr.write(`onnxruntime ${model.name} batch ${batch}\n`);
      out.models[model.name][`batch_${batch}`] = await measure(session, batch);
    }
  }
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
})().catch((error) => {
  process.stderr.write(`onnxruntime_benchmarks: ${error.message}\n`);
  process.exit(1);
});
