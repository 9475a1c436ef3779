r"""Runs a NAS search on a tabular benchmark, many seeds in one program.

    python -m experiments.search --benchmark=nbgraph_cora --algorithm=evolution \
        --budget=150 --seeds=100 --output_dir=runs/cora_evolution

Writes DIR/results.json (curve and final values in the reported metric, percent; the
query ledger; wall time) and DIR/curve.png, each through a temporary file, so an
interrupted write never replaces a previous good file. Every hyperparameter of every
algorithm is a flag ``--<algorithm>_<field>`` (e.g. ``--evolution_population_size=50``);
unset ones take the algorithm's per-benchmark default, and the values used are saved in
results.json.

Exit status: 0 when every seed spent its budget; 3 when the search finished and wrote
its results but some seed stopped at --max_steps first (results.json then has
``"budget_reached": false`` and ``short_of_budget`` lists those seeds); 1 with a one-line
``error:`` message for bad data files, an unusable --output_dir or --checkpoint_dir, or an
impossible budget (checked before any search); 1 (usage) for bad flags.

The run itself is ``jaxnas.workflows.search.run``; this module defines the flags and
builds its options from them.
"""

from __future__ import annotations

import sys

from absl import app, flags

from experiments import config_flags
from jaxnas import benchmarks, search
from jaxnas.config import Config
from jaxnas.workflows import search as search_workflow

EXIT_BUDGET_NOT_REACHED = search_workflow.EXIT_BUDGET_NOT_REACHED

FLAGS = flags.FLAGS
flags.DEFINE_enum("benchmark", "nbgraph_cora", benchmarks.BENCHMARK_NAMES, "Benchmark to search.")
flags.DEFINE_enum("algorithm", "evolution", search.ALGORITHM_NAMES, "Search algorithm.")
flags.DEFINE_integer("budget", 150, "Queries per search (new architectures paid for).", lower_bound=1)
flags.DEFINE_integer("seeds", 20, "Number of independent searches (seeds), run as one batch.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "First seed; searches use seeds seed..seed+seeds-1.", lower_bound=0)
flags.DEFINE_string("output_dir", "runs/search", "Where results.json and curve.png go (created, and checked "
                    "writable, before anything runs).")
flags.DEFINE_string("data_dir", None, "Benchmark data folder (default $JAXNAS_DATA or ../shared/data).")
flags.DEFINE_string("nb101_tfrecord", None, "Path of nasbench_only108.tfrecord for --benchmark=nb101 "
                    "(default: the one in the data folder).")
flags.DEFINE_list("report_at", ["50", "100", "150", "300", "1000"],
                  "Query counts at which results.json summarises the curve (those <= budget).")
flags.register_validator(
    "report_at", lambda values: all(v.strip().isdigit() and int(v) > 0 for v in values),
    message="--report_at must be a comma-separated list of positive integers")
flags.DEFINE_integer("max_steps", None, "Cap on ask/tell steps per seed (default: 100 per query + 1000). A seed "
                     "that reaches it before spending the budget is reported, and the exit status is 3.",
                     lower_bound=1)
config_flags.define_device_flags()
config_flags.define_checkpoint_flags("the search state every --checkpoint_every_steps")
flags.DEFINE_integer("checkpoint_every_steps", None, "Ask/tell steps between checkpoints (default: every chunk of "
                     "max(1, budget / (10 x queries per step)) steps).", lower_bound=1)

config_flags.define_preset_flag()
config_flags.define(search.ALGORITHM_NAMES, search.config_class)
flags.adopt_module_key_flags(config_flags)  # --help lists the device and algorithm flags too


def algorithm_config(name: str, benchmark: str) -> Config:
    """The algorithm's --preset configuration for the benchmark with any flags the user set applied."""
    return config_flags.config(name, search.config_class, benchmark, FLAGS.preset)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config_flags.refuse_others(FLAGS.algorithm, search.ALGORITHM_NAMES, search.config_class, "algorithm")
    options = config_flags.workflow_options(search_workflow.Options, "experiments.search")
    status = config_flags.run_workflow(lambda: search_workflow.run(
        options, lambda benchmark: algorithm_config(FLAGS.algorithm, benchmark), config_flags.start_devices))
    if status:
        sys.exit(status)


if __name__ == "__main__":
    app.run(main)
