"""onnxruntime's side of `dipper-bench faces`: one ONNX model run over the same inputs.

Reads float32 inputs (NCHW, C-order) from a raw file, runs them through the model in
batches for a fixed time after a warm-up, and prints one JSON line: items per second and,
when asked, the first pass's outputs written to a raw float32 file so the caller can check
both runtimes agree. Threads: with --sessions 1, one session with an intra-op pool of
--threads (inter-op 1); with --sessions N, N single-threaded sessions run side by side on
Python threads (onnxruntime releases the GIL while it runs), as a worker pool would.

A model whose input declares a fixed size (YuNet says 640x640, though the network takes any
multiple of 32) is run with that declaration relaxed: the same weights and nodes, only the
input's spatial dimensions made symbolic and the stale intermediate shapes dropped.
"""

import argparse
import json
import threading
import time

import numpy as np
import onnx
import onnxruntime as ort


def relaxed(path: str) -> bytes:
    """The model at `path` with its input's dimensions after the channels made symbolic."""
    model = onnx.load(path)
    for i, dim in enumerate(model.graph.input[0].type.tensor_type.shape.dim):
        if i >= 2:
            dim.ClearField("dim_value")
            dim.dim_param = f"d{i}"
    del model.graph.value_info[:]
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    return model.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--inputs", required=True, help="raw float32, shape --shape")
    parser.add_argument("--shape", required=True, help="N,C,H,W of the whole input file")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--outputs", help="write the first pass's first output here (raw f32)")
    args = parser.parse_args()

    shape = tuple(int(x) for x in args.shape.split(","))
    inputs = np.fromfile(args.inputs, dtype=np.float32).reshape(shape)
    if args.sessions > 1 and args.threads != 1:
        raise SystemExit("--sessions N runs single-threaded sessions: pass --threads 1")
    model = relaxed(args.model)

    def session() -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    sessions = [session() for _ in range(args.sessions)]
    input_name = sessions[0].get_inputs()[0].name

    count = shape[0]
    batches = [inputs[i : i + args.batch] for i in range(0, count - args.batch + 1, args.batch)]
    if not batches:
        raise SystemExit(f"fewer inputs ({count}) than one batch ({args.batch})")

    # Warm-up, and the outputs to compare.
    for s in sessions:
        outputs = [s.run(None, {input_name: b})[0] for b in batches]
    if args.outputs:
        np.concatenate(outputs).astype(np.float32).tofile(args.outputs)

    counts = [0] * len(sessions)
    start = time.perf_counter()

    def work(index: int) -> None:
        s = sessions[index]
        while time.perf_counter() - start < args.seconds:
            for b in batches:
                s.run(None, {input_name: b})
                counts[index] += b.shape[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(sessions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    items = sum(counts)
    print(
        json.dumps(
            {
                "onnxruntime": ort.__version__,
                "items": items,
                "seconds": elapsed,
                "items_per_second": items / elapsed,
            }
        )
    )


if __name__ == "__main__":
    main()
