"""Times the NB101 tfrecord loader on a full-size file in the official format.

    python -m scripts.bench_nb101_tfrecord [--workdir=/tmp/nb101_bench] [--rows=423624]

The official nasbench_only108.tfrecord is not in ../shared/data, so this writes one of the
same format and size (3 repeats x every cell of nb101_graphs.npz, random metrics), then
measures the cold parse (load_full without cache), the cached load, and checks that the
loaded mean validation/test accuracies equal the ones written.
"""

import argparse
import base64
import json
import os
import pathlib
import resource
import shutil
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default="/tmp/nb101_bench")
    parser.add_argument("--rows", type=int, default=None, help="cells to write (default all)")
    args = parser.parse_args()
    work = pathlib.Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    os.environ["JAXNAS_CACHE"] = str(work / "cache")
    shutil.rmtree(work / "cache", ignore_errors=True)

    from jaxnas import data
    from jaxnas.benchmarks import nb101, tfrecord
    from jaxnas.benchmarks.tfrecord import EvaluationData, ModelMetrics
    from jaxnas.spaces.nb101 import OP_NAMES

    with np.load(data.resolve("nb101_graphs.npz")) as table:
        graphs = {k: table[k] for k in ("hash", "adjacency", "ops", "num_vertices", "params")}
    rows = args.rows or len(graphs["hash"])
    rng = np.random.default_rng(0)
    acc = rng.uniform(0.1, 0.95, (rows, 3, 3, 3))  # [row, repeat, stage, train/valid/test]

    def payloads():
        for row in range(rows):
            n = int(graphs["num_vertices"][row])
            matrix = "".join(map(str, graphs["adjacency"][row][:n, :n].reshape(-1).tolist()))
            ops = ",".join(OP_NAMES[c] for c in graphs["ops"][row][:n].tolist())
            for repeat in range(3):
                a = acc[row, repeat].tolist()
                metrics = ModelMetrics(
                    (EvaluationData(0.0, 0.0, *a[0]), EvaluationData(54.0, 1000.0, *a[1]),
                     EvaluationData(108.0, 2000.0, *a[2])),
                    int(graphs["params"][row]), 2100.5,
                )
                encoded = base64.b64encode(tfrecord.encode_model_metrics(metrics)).decode()
                yield json.dumps([graphs["hash"][row].decode(), 108, matrix, ops, encoded]).encode()

    path = work / "nasbench_only108.tfrecord"
    start = time.perf_counter()
    count = tfrecord.write_records(path, payloads())
    print(f"wrote {count:,} records ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    bench = nb101.load_full(tfrecord_path=str(path))
    cold = time.perf_counter() - start
    print(f"load_full, cold (parse + cache): {cold:.1f} s = {count / cold:,.0f} records/s")
    start = time.perf_counter()
    bench = nb101.load_full(tfrecord_path=str(path))
    print(f"load_full, cached: {time.perf_counter() - start:.3f} s")
    expected_valid = acc[:, :, 2, 1].mean(axis=1) * 100
    expected_test = acc[:, :, 2, 2].mean(axis=1) * 100
    print("max |signal - written| =", float(np.nanmax(np.abs(bench.signal[:rows] - expected_valid))),
          " max |reported - written| =", float(np.nanmax(np.abs(bench.reported[:rows] - expected_test))))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
