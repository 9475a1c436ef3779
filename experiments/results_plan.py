r"""The runs behind docs/results.md, as one runnable plan: tuning and evaluation apart.

    python -m experiments.results_plan --stage=tuning --runs=runs/tuning          # seeds 100+
    python -m experiments.results_plan --stage=tuning --runs=runs/tuning --tables # the tuning tables
    python -m experiments.results_plan --stage=evaluation --runs=runs/results     # seeds 0-19, final code
    python -m experiments.report --runs=runs/results --out=docs/results.md

Every step is one command of an entry point (experiments.search, predictor_eval,
supernet) with its own folder under --runs; its output goes to FOLDER.log. Steps whose
results already exist are skipped, so an interrupted plan continues where it stopped.
``--list`` prints the commands instead of running them; ``--only=REGEX`` selects steps by
folder name. Commands run under ``nice -n 10`` (``--nice``). With
``--checkpoints=DIR`` the searches and predictor evaluations save their progress under
DIR and a killed plan, started again, resumes each from where it stopped. With
``--seeds_per_part=N`` each search runs as parts of N seeds, one after another, merged
into the step's results.json once all are done (seeds do not interact, so the merged file
holds what one run of all the seeds gives; it records each part's command and commit).

Tuning chooses (on tuning seeds only) what the defaults need: regularised evolution's
population and tournament sizes, and the supervised GCN's regression targets. The
evaluation stage runs every method -- paper preset and project default, baselines,
table-assisted variants labelled as such -- on evaluation seeds 0-19, once, on the final
code; nothing in it may be used to choose a setting.
"""

from __future__ import annotations

import sys

from absl import app, flags

from jaxnas import workflows
from jaxnas.workflows import results_plan as results_plan_workflow

FLAGS = flags.FLAGS
flags.DEFINE_enum("stage", "evaluation", ["tuning", "evaluation"], "Which runs: tuning (seeds 100+) or evaluation "
                  "(seeds 0-19).")
flags.DEFINE_string("runs", None, "Root folder of the runs (default runs/tuning or runs/results by stage).")
flags.DEFINE_bool("list", False, "Print the commands, run nothing.")
flags.DEFINE_bool("tables", False, "Print the tuning tables from finished runs (tuning stage), run nothing.")
flags.DEFINE_string("only", None, "Run only steps whose folder matches this regular expression.")
flags.DEFINE_string("checkpoints", None, "Checkpoint root: each search and predictor evaluation saves its progress "
                    "in CHECKPOINTS/FOLDER and resumes from what is there (default: no checkpoints).")
flags.DEFINE_integer("seeds_per_part", None, "Run each search as parts of this many seeds (folders FOLDER/seed_parts/"
                     "seeds_A-B, each skipped when done) and merge them into FOLDER/results.json: a long run "
                     "then lands in pieces that each fit in one sitting (default: every search in one piece).",
                     lower_bound=1)
flags.DEFINE_integer("nice", 10, "Niceness of the commands (0 = not niced).", lower_bound=0)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    options = results_plan_workflow.Options(stage=FLAGS.stage, runs=FLAGS.runs, list_commands=FLAGS.list,
                                            tables=FLAGS.tables, only=FLAGS.only, nice=FLAGS.nice,
                                            checkpoints=FLAGS.checkpoints, seeds_per_part=FLAGS.seeds_per_part)
    try:
        failed = results_plan_workflow.run(options)
    except workflows.UsageError as err:
        raise app.UsageError(str(err)) from err
    if failed:
        sys.exit(f"{len(failed)} step(s) failed or skipped: {failed}")


if __name__ == "__main__":
    app.run(main)
