// ONNX Runtime's side of benchmarks/suite/serving_memory.py: peak memory of one node process
// serving an ONNX file to THREADS concurrent requests of BATCH jets for SECONDS seconds. Prints one
// JSON object on stdout.
//
//   node benchmarks/suite/onnxruntime_serving_memory.js FILE.onnx THREADS BATCH SECONDS MODE
//
// MODE "shared": one InferenceSession (one intra-op thread, as CMSSW), THREADS requests kept in
//   flight with their own inputs; onnxruntime-node 1.30 executes session.run synchronously on the
//   JavaScript thread, so the requests take turns: this is one session's memory with THREADS
//   requests' tensors, a LOWER bound of one session run from THREADS native threads at once
//   (each concurrent run takes its own blocks from the session's arena).
// MODE "workers": THREADS worker_threads, each with its own InferenceSession, all running at once:
//   the concurrency of THREADS threads, an UPPER bound (THREADS copies of the weights and arenas).
// baseline_rss_mb is node's resident memory before onnxruntime-node is loaded; peak_rss_mb the
// process's high-water mark (process.resourceUsage().maxRSS, the kernel's ru_maxrss).
// ONNX Runtime is npm's onnxruntime-node (scripts/install-dependencies.sh --test-runtimes).
'use strict';
const path = require('path');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

const baseline = process.memoryUsage().rss / 1048576;
const ort = require(path.join(__dirname, '..', '..', 'scripts', 'onnxruntime', 'node_modules', 'onnxruntime-node'));

function feeds(session, batch, seed) {
  let state = seed;
  const result = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find((m) => m.name === name) : undefined;
    const dims = (meta && meta.shape ? meta.shape : []).map((d, i) => (typeof d === 'number' && d > 0 && i > 0 ? d : batch));
    const size = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; ++i) {
      state = (state * 1103515245 + 12345) % 2147483648;
      data[i] = state / 1073741824 - 1;
    }
    result[name] = new ort.Tensor('float32', data, dims);
  }
  return result;
}

async function openSession(file) {
  return ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
}

// Runs requests back to back for `seconds`; returns the number of calls.
async function serve(session, input, seconds) {
  const start = process.hrtime.bigint();
  let calls = 0;
  do {
    await session.run(input);
    ++calls;
  } while (Number(process.hrtime.bigint() - start) / 1e9 < seconds);
  return calls;
}

async function main() {
  const [file, threadsText, batchText, secondsText, mode] = process.argv.slice(2);
  const threads = Number(threadsText), batch = Number(batchText), seconds = Number(secondsText);
  if (!file || !(threads > 0) || !(batch > 0) || !(seconds > 0) || !['shared', 'workers'].includes(mode))
    throw new Error('usage: onnxruntime_serving_memory.js FILE.onnx THREADS BATCH SECONDS shared|workers');
  let calls = 0;
  let modelRss = 0;
  if (mode === 'shared') {
    const session = await openSession(file);
    modelRss = process.memoryUsage().rss / 1048576;
    const inputs = Array.from({ length: threads }, (_, t) => feeds(session, batch, 100 + t));
    const counts = await Promise.all(inputs.map((input) => serve(session, input, seconds)));
    calls = counts.reduce((a, b) => a + b, 0);
  } else {
    const workers = Array.from({ length: threads }, (_, t) => new Worker(__filename, { workerData: { file, batch, seconds, seed: 100 + t } }));
    const counts = await Promise.all(workers.map((w) => new Promise((resolve, reject) => {
      w.on('message', resolve);
      w.on('error', reject);
    })));
    calls = counts.reduce((a, b) => a + b, 0);
  }
  const peak = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ engine: 'onnxruntime ' + mode, threads, batch, baseline_rss_mb: +baseline.toFixed(1),
    model_rss_mb: +modelRss.toFixed(1), peak_rss_mb: +peak.toFixed(1), calls }));
}

if (isMainThread) {
  main().catch((e) => { console.error(e.message); process.exit(1); });
} else {
  (async () => {
    const session = await openSession(workerData.file);
    parentPort.postMessage(await serve(session, feeds(session, workerData.batch, workerData.seed), workerData.seconds));
  })().catch((e) => { console.error(e.message); process.exit(1); });
}
