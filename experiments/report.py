r"""Generates the results document from results.json files.

    python -m experiments.report --runs=runs/results --out=docs/results.md

Reads every results.json under --runs (experiments.search, experiments.predictor_eval and
experiments.parsec outputs; others are skipped) and writes one Markdown document:

* per benchmark (nb201_cifar10, nbgraph_cora, nb101_subset, then any other), per budget:
  a table of search methods (paper configuration and default, baselines) with mean, sample
  std, sem, median, fraction of seeds at the optimum, and the paired comparison with tuned
  regularised evolution on the same seeds (mean difference, 95 % bootstrap CI, Wilcoxon
  p; :func:`jaxnas.metrics.paired_comparison`); table-assisted runs in their own table,
  with their weak labels' cost; a verdict line per method, generated from the numbers;
* per benchmark and label count (L = 20 / 50 / 100 and any other), the offline predictor
  table (Kendall tau, Spearman rho, NDCG@10, precision@5 %) with the paired comparison of
  Kendall tau against the supervised GCN (default);
* PARSEC: the test accuracy (NB201 table) of the MAP cell of the learnt prior, the prior's
  expected cell, and the same-compute baseline (random cells ranked by the uniformly trained
  supernet), against the average random cell, with the paired comparison MAP - baseline;
  the supernet quality gate's Kendall tau;
* every run's command, seeds, commit (and whether the tree had uncommitted changes).

Only evaluation seeds (0-99) enter the tables; runs on tuning seeds (>= 100) are listed
as ignored. A curve plot per benchmark is written next to the document (--plots).
"""

from __future__ import annotations

from absl import app, flags

from experiments import config_flags
from jaxnas.workflows import report as report_workflow

FLAGS = flags.FLAGS
flags.DEFINE_string("runs", "runs/results", "Folder searched (recursively) for results.json files.")
flags.DEFINE_string("out", "docs/results.md", "The Markdown document to write.")
flags.DEFINE_bool("plots", True, "Write a best-so-far curve plot per benchmark next to the document.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config_flags.run_workflow(lambda: report_workflow.run(FLAGS.runs, FLAGS.out, FLAGS.plots))


if __name__ == "__main__":
    app.run(main)
