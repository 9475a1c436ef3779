r"""Offline comparison for AceNAS (issue 5): MSE GCN vs LambdaRank from scratch vs
LambdaRank with weak-label pretraining, at several label counts, vmapped over seeds.

    nice -n 10 python scripts/acenas_eval.py --benchmark=nb201_cifar10 --labels=20,50,100 \
        --seeds=5 --variants=gcn,scratch,w12 --output_dir=runs/i5/eval

Protocol = jaxnas.predictor_eval.evaluate (seeds 0..S-1, same splits for every variant;
``--seed=100`` shifts to tuning seeds 100..100+S-1, files get an ``_s100`` suffix).
Adds best-in-predicted-top-10: the best REPORTED accuracy among the 10 non-training
cells the predictor ranks highest (what 10 more queries would find). One JSON per
(variant, L); existing ones are skipped (rerun-safe).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from jaxnas import benchmarks, predictor_eval  # noqa: E402
from jaxnas.predictors import acenas, gcn  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("benchmark", "nb201_cifar10", "Benchmark.")
flags.DEFINE_list("labels", ["20", "50", "100"], "Label counts.")
flags.DEFINE_integer("seeds", 5, "Number of seeds S: seeds seed..seed+S-1.")
flags.DEFINE_integer("seed", 0, "First seed. Evaluation tables use 0; tune on >= 100.")
flags.DEFINE_list("variants", ["gcn", "scratch", "w12"],
                  "Variants (see variants() / --supernet); NAME@field=value+field=value overrides "
                  "AceNASConfig fields of a base variant, e.g. w12@pretrain_loss=lambdarank+epochs=50.")
flags.DEFINE_string("supernet", None, "Supernet weak-label .npz for the 'supernet' variant.")
flags.DEFINE_string("output_dir", "runs/i5/eval", "Output folder.")


def variants(benchmark: str) -> dict:
    low_fidelity = {
        "nb201_cifar10": {"w12": "nb201_cifar10:cifar10_valid_12ep"},
        "nb101_subset": {"w4": "nb101_subset:val_acc_4ep", "w12": "nb101_subset:val_acc_12ep",
                         "w36": "nb101_subset:val_acc_36ep"},
        # No low-fidelity column in NAS-Bench-Graph: weak labels from related datasets' tables.
        "nbgraph_cora": {"xciteseer": "nbgraph_citeseer:signal", "xpubmed": "nbgraph_pubmed:signal"},
    }.get(benchmark, {})
    default = acenas.AceNASConfig.for_benchmark(benchmark)
    # Low-fidelity and cross-dataset columns are whole tables: table-assisted variants.
    table = dataclasses.replace(default, allow_table_weak_labels=True)
    out = {"gcn": ("gcn", gcn.GCNConfig.for_benchmark(benchmark)),
           "scratch": ("acenas", default),
           "scratch_truepos": ("acenas", dataclasses.replace(default, positions="true"))}
    for name, spec in low_fidelity.items():
        out[name] = ("acenas", dataclasses.replace(table, weak_labels=spec))
        out[name + "_truepos"] = ("acenas", dataclasses.replace(table, weak_labels=spec, positions="true"))
    if FLAGS.supernet:
        out["supernet"] = ("acenas", dataclasses.replace(default, weak_labels=FLAGS.supernet))
    return out


def main(argv):
    del argv
    bench = benchmarks.load_benchmark(FLAGS.benchmark)
    out_dir = pathlib.Path(FLAGS.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = variants(FLAGS.benchmark)
    for name in FLAGS.variants:
        base, _, overrides = name.partition("@")
        if base not in table:
            raise app.UsageError(f"unknown variant {base!r}; known: {sorted(table)}")
        kind, config = table[base]
        if overrides:
            types = {f.name: f.type for f in dataclasses.fields(config)}
            cast = {"int": int, "float": float, "str": str}
            changes = dict(item.split("=", 1) for item in overrides.split("+"))
            config = dataclasses.replace(config, **{k: cast[str(types[k]).split("'")[-2] if "'" in str(types[k])
                                                                 else types[k]](v) for k, v in changes.items()})
        for num_labels in [int(v) for v in FLAGS.labels]:
            suffix = f"_s{FLAGS.seed}" if FLAGS.seed else ""
            path = out_dir / f"{FLAGS.benchmark}_{name}_L{num_labels}{suffix}.json"
            if path.exists():
                print(f"skip {path} (exists)")
                continue
            predictor = (gcn.gcn_predictor(bench.search_space, config) if kind == "gcn"
                         else acenas.acenas_predictor(bench.search_space, config))
            result = predictor_eval.evaluate(predictor, bench, num_labels, FLAGS.seeds, seed=FLAGS.seed,
                                             predictor_name=name)
            top10 = np.argsort(-result.test_predictions, axis=1)[:, :10]
            picked = np.take_along_axis(result.test_indices, top10, axis=1)
            best_top10 = bench.reported[picked].max(axis=1)
            best_train = np.nanmax(bench.reported[result.train_indices], axis=1)
            extra = {
                "variant": name,
                "config": dataclasses.asdict(config),
                "best_in_predicted_top10": {"mean": float(best_top10.mean()), "std": float(best_top10.std(ddof=1)),
                                            "per_seed": best_top10.tolist()},
                "best_after_L_plus_10": {"mean": float(np.maximum(best_top10, best_train).mean()),
                                         "per_seed": np.maximum(best_top10, best_train).tolist()},
                "optimum": float(np.nanmax(bench.reported)),
            }
            path.write_text(json.dumps(result.to_json(extra), indent=1))
            m = result.summary()
            print(f"RESULT {FLAGS.benchmark} {name} L={num_labels} seeds {FLAGS.seed}..{FLAGS.seed + FLAGS.seeds - 1}: "
                  f"ndcg@10 {predictor_eval.mean_std(m['ndcg_at_10']['per_seed'])} "
                  f"tau {predictor_eval.mean_std(m['kendall_tau']['per_seed'])} "
                  f"top10 {best_top10.mean():.3f} ± {best_top10.std(ddof=1):.3f} "
                  f"({result.wall_seconds:.0f}s)", flush=True)


if __name__ == "__main__":
    app.run(main)
