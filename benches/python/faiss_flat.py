"""The peer of `dipper-bench index`: faiss IndexFlatIP (exact inner product, float32) over
the same vectors and queries, timed the same way.

dipper-bench writes the stored vectors and the queries as raw little-endian float32, row
after row, runs this script with the venv's python and reads one JSON object from stdout.

Timing: only `index.search` calls, after one warm-up pass; per repetition, every query alone
(the mean per query is that repetition's single-query latency), then all queries as one
batch. faiss uses `--threads` OpenMP threads. The medians over `--reps` are reported with
every repetition, the top-k ids and scores of the batch, and the time `add` took. Last, for
reference, the single-query latency again with one thread.
"""

import argparse
import json
import statistics
import sys
import time

import faiss
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", required=True, help="raw float32 file, N x dims")
    parser.add_argument("--queries", required=True, help="raw float32 file, Q x dims")
    parser.add_argument("--dims", type=int, required=True)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()

    faiss.omp_set_num_threads(args.threads)
    vectors = np.fromfile(args.vectors, dtype="<f4").reshape(-1, args.dims)
    queries = np.fromfile(args.queries, dtype="<f4").reshape(-1, args.dims)

    started = time.perf_counter()
    index = faiss.IndexFlatIP(args.dims)
    index.add(vectors)
    add_seconds = time.perf_counter() - started
    count = index.ntotal
    del vectors  # the index holds its own copy

    singles = [queries[i : i + 1] for i in range(len(queries))]
    index.search(queries, args.k)
    for one in singles:
        index.search(one, args.k)

    single_ms, batch_ms = [], []
    for _ in range(args.reps):
        started = time.perf_counter()
        for one in singles:
            index.search(one, args.k)
        single_ms.append((time.perf_counter() - started) * 1e3 / len(singles))
        started = time.perf_counter()
        scores, ids = index.search(queries, args.k)
        batch_ms.append((time.perf_counter() - started) * 1e3)

    # faiss runs one query on one thread better than on two; for reference, its best.
    faiss.omp_set_num_threads(1)
    one_thread_ms = []
    for _ in range(args.reps):
        started = time.perf_counter()
        for one in singles:
            index.search(one, args.k)
        one_thread_ms.append((time.perf_counter() - started) * 1e3 / len(singles))

    json.dump(
        {
            "faiss_version": faiss.__version__,
            "vectors": int(count),
            "threads": args.threads,
            "add_seconds": add_seconds,
            "single_query_ms": statistics.median(single_ms),
            "single_query_ms_reps": single_ms,
            "batch_ms": statistics.median(batch_ms),
            "batch_ms_reps": batch_ms,
            "single_query_one_thread_ms": statistics.median(one_thread_ms),
            "ids": ids.tolist(),
            "scores": scores.tolist(),
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
