"""Full-table checks of the NB101 space's two cell identities, on all 423,624 rows.

1. The official fingerprint (``jaxnas.spaces.nb101.fingerprint``, md5 WL hash) must
   reproduce the ``hash`` column of nb101_graphs.npz on every row (multiprocessing).
2. The jittable WL hash behind ``NB101Space.index`` must be unique over all rows (64
   bits), and ``index(from_index(i)) == i`` for every row.
3. Timings: building the index table from scratch, loading it from the cache, and
   ``index`` on a vmapped batch of 10,000 cells.

Usage: python -m scripts.check_nb101_hashes [--data_dir DIR] [--workers N] [--limit N]
Exits with status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time

import numpy as np


def _fingerprint_chunk(args):
    """Worker: (rows matching their hash, first mismatching rows) for rows [start, stop)."""
    data_dir, start, stop = args
    from jaxnas.spaces import nb101

    table = nb101.load_graphs(data_dir)
    adjacency, ops, hashes = table["adjacency"], table["ops"], table["hash"]
    matches, mismatches = 0, []
    for row in range(start, stop):
        if nb101.fingerprint(adjacency[row], ops[row]) == hashes[row].decode():
            matches += 1
        elif len(mismatches) < 5:
            mismatches.append(row)
    return matches, mismatches


def check_fingerprints(data_dir, num_rows: int, workers: int) -> bool:
    bounds = np.linspace(0, num_rows, workers * 8 + 1).astype(int)  # small chunks balance load
    chunks = [(data_dir, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    start = time.perf_counter()
    # spawn, not fork: the parent has JAX's threads running.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        results = pool.map(_fingerprint_chunk, chunks)
    seconds = time.perf_counter() - start
    matches = sum(r[0] for r in results)
    mismatches = [row for r in results for row in r[1]]
    print(f"official fingerprint: {matches:,}/{num_rows:,} rows match the hash column "
          f"({seconds:.1f} s wall, {workers} processes)")
    if mismatches:
        print(f"  first mismatching rows: {mismatches[:10]}")
    return matches == num_rows


def check_wl_hash(data_dir, num_rows: int) -> bool:
    import jax
    import jax.numpy as jnp

    from jaxnas.spaces import nb101

    ok = True
    table = nb101.load_graphs(data_dir)
    start = time.perf_counter()
    lanes = nb101.wl_hash_rows(table["adjacency"][:num_rows], table["ops"][:num_rows])
    seconds = time.perf_counter() - start
    unique = len(np.unique(lanes[:, 0].astype(np.uint64) << np.uint64(32) | lanes[:, 1]))
    lane0_unique = len(np.unique(lanes[:, 0]))
    print(f"JAX WL hash (2 x uint32): {unique:,}/{num_rows:,} distinct over the rows "
          f"({seconds:.2f} s to hash them; lane 0 alone: {lane0_unique:,} distinct)")
    ok &= unique == num_rows

    start = time.perf_counter()
    fresh = nb101.build_index_table(data_dir, use_cache=False)
    print(f"index table built from scratch in {time.perf_counter() - start:.2f} s "
          f"(load npz + hash all rows + sort; lane-0 run length <= {fresh.window})")
    nb101.build_index_table(data_dir)  # make sure the cache file exists
    start = time.perf_counter()
    cached = nb101.build_index_table(data_dir)
    print(f"index table loaded from the cache in {time.perf_counter() - start:.3f} s "
          f"(from_cache={cached.from_cache})")

    space = nb101.NB101Space(data_dir=data_dir)
    roundtrip = jax.jit(lambda i: space.index_batch(space.from_index_batch(i)))
    chunk = 1 << 15
    wrong = 0
    for first in range(0, num_rows, chunk):
        rows = np.arange(first, first + chunk, dtype=np.int32)
        rows = np.where(rows < num_rows, rows, 0)  # fixed shape: one compilation
        got = np.asarray(roundtrip(jnp.asarray(rows)))
        wrong += int((got != rows)[: num_rows - first].sum())
    print(f"index(from_index(i)) == i: {num_rows - wrong:,}/{num_rows:,} rows")
    ok &= wrong == 0

    batch = 10_000
    index = jax.jit(space.index_batch)
    rows = jax.random.randint(jax.random.key(0), (batch,), 0, num_rows, jnp.int32)
    packed = space.from_index_batch(rows)
    raw = jax.jit(space.sample_batch, static_argnums=1)(jax.random.key(1), batch)
    for name, cells in [("packed table rows", packed), ("raw sampled specs", raw)]:
        jax.block_until_ready(index(cells))  # compile
        times = []
        for _ in range(10):
            start = time.perf_counter()
            jax.block_until_ready(index(cells))
            times.append(time.perf_counter() - start)
        best, median = min(times), float(np.median(times))
        print(f"index on a vmapped batch of {batch:,} {name}: {batch / median:,.0f} cells/s "
              f"(median {median * 1e3:.1f} ms, best {best * 1e3:.1f} ms, {jax.devices()[0].platform})")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=None, help="folder holding nb101_graphs.npz")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--limit", type=int, default=None, help="check only the first N rows of the fingerprints")
    parser.add_argument("--skip_fingerprint", action="store_true", help="only the JAX hash checks")
    args = parser.parse_args(argv)

    from jaxnas.spaces import nb101

    num_rows = nb101.NUM_ARCHITECTURES
    ok = True
    if not args.skip_fingerprint:
        ok &= check_fingerprints(args.data_dir, min(args.limit or num_rows, num_rows), args.workers)
    ok &= check_wl_hash(args.data_dir, num_rows)
    print("ALL CHECKS PASSED" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
