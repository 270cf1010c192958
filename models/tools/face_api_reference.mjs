// The reference for the dlib embedder's conversion: runs face-api's own FaceRecognitionNet
// (@vladmandic/face-api 1.7.15 on TensorFlow.js 4.22.0, WASM or pure-JS CPU backend) on
// aligned face crops and prints the descriptors as JSON.
//
// Usage: node models/tools/face_api_reference.mjs [--backend wasm|cpu] FACE.rgb...
// Each FACE.rgb is one 150x150 RGB crop, raw bytes (150 * 150 * 3, row-major, RGB). All the
// faces go to computeFaceDescriptor as one batch. Output on stdout, one line:
//   {"backend":"wasm","tfjs":"4.22.0","face_api":"1.7.15","descriptors":[[128 numbers],...]}
// Each number is the float32 face-api returned, printed exactly (shortest round trip).
//
// The node modules come from DIPPER_NODE_DIR (default <repo>/.cache/node), the weights from
// DIPPER_FACE_API_MODEL_DIR (default: the face-api package's model/ folder there); both are
// installed by scripts/fetch-models.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const INPUT_SIZE = 150;
const FACE_BYTES = INPUT_SIZE * INPUT_SIZE * 3;

function fail(message) {
  process.stderr.write(`face_api_reference: ${message}\n`);
  process.exit(2);
}

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const nodeDir = process.env.DIPPER_NODE_DIR || join(repo, '.cache', 'node');
const faceApiDir = join(nodeDir, 'node_modules', '@vladmandic', 'face-api');
const modelDir = process.env.DIPPER_FACE_API_MODEL_DIR || join(faceApiDir, 'model');
if (!existsSync(faceApiDir)) {
  fail(`${faceApiDir} is missing; run scripts/fetch-models`);
}

let backend = 'wasm';
const files = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 1) {
  if (args[i] === '--backend') {
    backend = args[i + 1];
    i += 1;
  } else {
    files.push(args[i]);
  }
}
if (!['wasm', 'cpu'].includes(backend)) fail(`unknown backend ${backend} (wasm or cpu)`);
if (files.length === 0) fail('usage: face_api_reference.mjs [--backend wasm|cpu] FACE.rgb...');

// Resolve the packages from the cached node_modules, not from this file's folder.
const require = createRequire(join(nodeDir, 'package.json'));
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const { tf } = faceapi;

if (!(await tf.setBackend(backend))) fail(`tfjs could not start the ${backend} backend`);
await tf.ready();

await faceapi.nets.faceRecognitionNet.loadFromDisk(modelDir);

const faces = files.map((file) => {
  const bytes = readFileSync(file);
  if (bytes.length !== FACE_BYTES) {
    fail(`${file}: ${bytes.length} bytes, expected ${FACE_BYTES} (150x150 RGB)`);
  }
  return tf.tensor3d(Float32Array.from(bytes), [INPUT_SIZE, INPUT_SIZE, 3], 'float32');
});

const descriptors = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(faces);
faces.forEach((t) => t.dispose());

const result = {
  backend: tf.getBackend(),
  tfjs: tf.version.tfjs,
  face_api: faceapi.version,
  descriptors: descriptors.map((d) => Array.from(d)),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
