r"""Predictor throughput: training steps/s and inference architectures/s per batch size.

    python -m experiments.predictor_throughput --predictor=gcn --benchmark=nb101_subset \
        --batch_sizes=1,64,1024,16384 --all_cells_chunks=1024,16384 --output_dir=runs/throughput

After compilation and warm-up it measures (median of repeats, block_until_ready):
training steps/s and inference architectures/s per batch size, the time to predict every
cell of the space (all 423,624 for NB101; each framework at its fastest chunk size of
--all_cells_chunks, so the ratio is best against best), compiled/peak memory, the device, and this
machine's float32 matmul FLOP/s, with each measurement's fraction of it. With PyTorch
installed (pip install -e ".[torch]") the predictor's PyTorch mirror (the GCN for gcn and
acenas, NAO for nao) is measured side by side in the same process, on the same inputs and
weights: its scores, and its training loss where it is the same loss, are checked equal
to the JAX model's (1e-4) before anything is timed.
With --cpu_devices=N --num_devices=N each JAX batch is split over N CPU devices (one per
core), the way JAX uses several cores for a small model; the default is one device.
Writes DIR/results.json (atomically) and prints a table.
"""

from __future__ import annotations

from absl import app, flags

from experiments import config_flags
from jaxnas import benchmarks, distributed, provenance, throughput
from jaxnas.workflows import throughput as throughput_workflow

FLAGS = flags.FLAGS
flags.DEFINE_enum("predictor", "gcn", sorted(throughput.ADAPTERS), "Predictor to measure.")
flags.DEFINE_enum("benchmark", "nb101_subset", benchmarks.BENCHMARK_NAMES, "Benchmark whose space is used.")
flags.DEFINE_list("batch_sizes", ["1", "64", "1024", "16384"], "Batch sizes to measure.")
flags.DEFINE_integer("train_batch_size", 128, "Batch size of the headline training comparison.", lower_bound=1)
flags.DEFINE_integer("repeats", 5, "Timed repeats per measurement (median reported).", lower_bound=1)
flags.DEFINE_bool("torch", True, "Also measure the PyTorch mirror when torch is installed.")
flags.DEFINE_integer("torch_threads", None, "torch.set_num_threads for the mirror (default: PyTorch's own, one "
                     "per core); on a machine other jobs load, 1 spares PyTorch's idle threads spinning.",
                     lower_bound=1)
flags.DEFINE_bool("all_cells", True, "Time predicting every architecture of the space.")
flags.DEFINE_list("all_cells_chunks", [], "Chunk sizes tried for --all_cells (default: the largest batch size); "
                  "each framework is reported at its fastest chunk, so the ratio compares best with best.")
config_flags.define_cpu_devices_flag()
flags.DEFINE_integer("num_devices", 1, "Devices each JAX batch is split over, weights replicated (data parallel: "
                     "the same step, gradients summed across devices); must divide every batch and chunk size.",
                     lower_bound=1)
flags.DEFINE_string("output_dir", "runs/throughput", "Where results.json goes.")
flags.DEFINE_string("data_dir", None, "Benchmark data folder.")
for _name in ("batch_sizes", "all_cells_chunks"):
    flags.register_validator(_name, lambda v: all(x.strip().isdigit() and int(x) > 0 for x in v),
                             message=f"--{_name} must be a comma-separated list of positive integers")


def _options() -> throughput_workflow.Options:
    return throughput_workflow.Options(
        predictor=FLAGS.predictor, benchmark=FLAGS.benchmark,
        batch_sizes=tuple(int(b) for b in FLAGS.batch_sizes), train_batch_size=FLAGS.train_batch_size,
        repeats=FLAGS.repeats, torch=FLAGS.torch, torch_threads=FLAGS.torch_threads, all_cells=FLAGS.all_cells,
        all_cells_chunks=tuple(int(c) for c in FLAGS.all_cells_chunks), output_dir=FLAGS.output_dir,
        data_dir=FLAGS.data_dir, num_devices=FLAGS.num_devices,
        command=provenance.command_line("experiments.predictor_throughput"))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    distributed.set_cpu_devices(FLAGS.cpu_devices)  # before any JAX operation
    config_flags.run_workflow(lambda: throughput_workflow.run(_options()))


if __name__ == "__main__":
    app.run(main)
