"""Prints how long each benchmark table takes to load (cold process, after imports).

    python -m scripts.load_times

Each table is loaded in a fresh subprocess so no cache in memory helps; on-disk caches
(the NB101 index table) are used as a user would have them after the first run.
"""

import subprocess
import sys

SNIPPET = """
import time, numpy as np
import jaxnas.benchmarks as b, jaxnas.spaces.nb101 as nb101
name = {name!r}
start = time.perf_counter()
if name == "nb101_graphs.npz":
    nb101.load_graphs(); nb101.build_index_table()
else:
    b.load_benchmark(name)
print(f"{{name:28s}} {{time.perf_counter() - start:6.3f}} s")
"""

NAMES = ["nb101_graphs.npz", "nb101_subset", "nb201_cifar10", "nb201_cifar100_12ep",
         "nbgraph_cora", "nbgraph_arxiv", "nbgraph_proteins"]

if __name__ == "__main__":
    for name in NAMES:
        out = subprocess.run([sys.executable, "-c", SNIPPET.format(name=name)], capture_output=True, text=True)
        print(out.stdout.strip() or out.stderr.strip().splitlines()[-1])
