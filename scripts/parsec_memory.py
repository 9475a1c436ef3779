r"""Peak memory of a PARSEC training step vs a DARTS-style mixed-op step, like for like.

    python -m scripts.parsec_memory --space=nb201 --channels=16 --cells=5 --batch_size=64 --samples=8
    python -m scripts.parsec_memory --space=darts --channels=16 --layers=8 --batch_size=64 --samples=8

Jitted training steps on one supernet configuration and one input batch, each compiled
(not run) and measured with XLA's ``compiled.memory_analysis()``:

* ``parsec``: the PARSEC step (``jaxnas.weight_sharing.parsec.make_train_step``) in its heaviest form,
  the paper's: K architectures drawn from pi, each running only its chosen ops,
  importance-weighted gradient of the shared weights (one architecture's activations at
  a time; K gradient copies of the weights), plus pi's update (K forward passes on a
  validation batch of the same size). The architecture is traced, so the compiled
  program must hold the worst case over all architectures.
* ``darts``: a first-order DARTS step: ``method="mixed"`` computes every candidate op on
  every edge, weighted by softmax(alpha), with gradients for the weights and alpha.
* ``standalone``: one fixed architecture built alone (NB201: all nor_conv_3x3; DARTS:
  sep_conv_5x5 on every edge), trained by plain SGD, no rematerialisation.

Peak = temp + arguments + outputs - aliased bytes (what XLA allocates for the step).
NB201: both the sampled (switch) edges and the mixed edges rematerialise their ops with
``nb201_network.REMAT_POLICY``; the script compiles the PARSEC and DARTS steps once with
the policy and once without (``REMAT_POLICY = None``) and reports both ratios, each like
for like: peak(parsec, remat) / peak(darts, remat) and peak(parsec, plain) /
peak(darts, plain). The DARTS space's edges are not rematerialised: one (plain) ratio.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas import outputs
from jaxnas.weight_sharing import darts_network, input_pipeline, nb201_network, parsec


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="nb201", choices=["nb201", "darts"], help="Cell space.")
    parser.add_argument("--channels", type=int, default=16, help="C.")
    parser.add_argument("--cells", type=int, default=5, help="NB201 cells per stage.")
    parser.add_argument("--layers", type=int, default=8, help="DARTS cells.")
    parser.add_argument("--batch_size", type=int, default=64, help="Batch size (the same for every step).")
    parser.add_argument("--samples", type=int, default=8, help="K for the PARSEC step (weight samples and pi samples).")
    parser.add_argument("--output", default=None, help="Optional JSON file for the figures.")
    return parser.parse_args(argv)


def _stats(compiled) -> dict:
    m = compiled.memory_analysis()
    peak = m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
    return {"temp": int(m.temp_size_in_bytes), "arguments": int(m.argument_size_in_bytes),
            "outputs": int(m.output_size_in_bytes), "alias": int(m.alias_size_in_bytes), "peak": int(peak)}


def _compile(name, fn, *args) -> dict:
    start = time.time()
    compiled = jax.jit(fn).lower(*args).compile()
    out = _stats(compiled)
    out["compile_seconds"] = round(time.time() - start, 1)
    print(f"  {name:10s} peak {out['peak'] / 2**20:9.1f} MiB  temp {out['temp'] / 2**20:9.1f} MiB  "
          f"(compiled in {out['compile_seconds']:.0f}s)", flush=True)
    return out


def main(argv=None):
    args = parse_args(argv)
    b = args.batch_size
    images = jnp.zeros((b, 32, 32, 3), jnp.uint8)
    labels = jnp.zeros((b,), jnp.int32)
    if args.space == "nb201":
        model = nb201_network.supernet(args.channels, args.cells)
        params = nb201_network.init(jax.random.key(0), model)
        choices, to_arch = parsec.nb201_choices(), parsec.nb201_to_arch
        alpha = jnp.zeros((nb201_network.NUM_EDGES, nb201_network.NUM_OPS))
        worst = [3] * nb201_network.NUM_EDGES
        alone = nb201_network.standalone(worst, args.channels, args.cells)
        alone_params = {"params": nb201_network.subnet_params(params["params"], worst)}
        config_text = f"NB201 C={args.channels} N={args.cells}"
    else:
        model = darts_network.supernet(args.channels, args.layers)
        params = darts_network.init(jax.random.key(0), model)
        choices, to_arch = parsec.darts_choices(), parsec.darts_to_arch
        alpha = jnp.zeros((2, darts_network.NUM_EDGES, darts_network.NUM_OPS))
        sep5 = jnp.full((darts_network.NUM_NODES, 2), 4, jnp.int32)
        worst = darts_network.DartsArch(jnp.zeros(4, jnp.int32), sep5, jnp.zeros(4, jnp.int32), sep5)
        alone = darts_network.standalone(worst, args.channels, args.layers)
        alone_params = {"params": darts_network.subnet_params(params["params"], worst, args.layers)}
        config_text = f"DARTS C={args.channels} layers={args.layers}"
    mean, std = np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32)
    print(f"{config_text}, batch {b}, K={args.samples}, supernet weights "
          f"{sum(x.size for x in jax.tree_util.tree_leaves(params)) / 1e6:.3f} M", flush=True)

    # PARSEC: experiments.parsec's step with the paper's weight training (K samples from pi).
    config = parsec.Config(num_samples=args.samples, weight_sampling="posterior", weight_samples=args.samples,
                           batch_size=b, valid_batch_size=b, num_valid=max(b, 2), eval_images=b, eval_batch_size=b,
                           steps=1000, warmup_steps=0, warmup_max_steps=0)
    w_opt, a_opt = parsec.weights_optimizer(config), optax.adam(3e-4)

    def parsec_results():
        step = parsec.make_train_step(model.apply, choices, to_arch, config, mean, std)
        state = parsec.init_state(params, parsec.uniform_logits(choices), config, search_start=0)
        return _compile("parsec", step, state, jax.random.key(0), images, labels, images, labels)

    # DARTS (first order): mixed ops weighted by softmax(alpha); weights and alpha updated.
    def darts_results():
        # A fresh function per call: jit would otherwise reuse the trace made under the other REMAT_POLICY.
        def nll(p, a, x, y):
            logits = model.apply(p, x, jax.nn.softmax(a, axis=-1), method="mixed")
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=-1))

        def darts_step(p, p_opt, a, a_state, key, x, y):
            x = input_pipeline.augment(key, x, mean, std)
            gp, ga = jax.grad(nll, argnums=(0, 1))(p, a, x, y)
            up, p_opt = w_opt.update(gp, p_opt, p)
            ua, a_state = a_opt.update(ga, a_state, a)
            return optax.apply_updates(p, up), p_opt, optax.apply_updates(a, ua), a_state

        return _compile("darts", darts_step, params, w_opt.init(params), alpha, a_opt.init(alpha),
                        jax.random.key(0), images, labels)

    results = {}
    if args.space == "nb201":
        policy = nb201_network.REMAT_POLICY
        try:
            for name, setting in (("remat", policy), ("plain", None)):
                nb201_network.REMAT_POLICY = setting  # read when the step is traced
                print(f" edges {name}:", flush=True)
                results[name] = {"parsec": parsec_results(), "darts": darts_results()}
        finally:
            nb201_network.REMAT_POLICY = policy
    else:
        results["plain"] = {"parsec": parsec_results(), "darts": darts_results()}

    # One architecture alone (the worst case), plain SGD.
    def alone_step(p, p_opt, key, x, y):
        x = input_pipeline.augment(key, x, mean, std)
        g = jax.grad(lambda q: -jnp.mean(jnp.take_along_axis(
            jax.nn.log_softmax(alone.apply(q, x)), y[:, None], axis=-1)))(p)
        up, p_opt = w_opt.update(g, p_opt, p)
        return optax.apply_updates(p, up), p_opt

    standalone = _compile("standalone", alone_step, alone_params, w_opt.init(alone_params),
                          jax.random.key(0), images, labels)

    ratios = {}
    for name, r in results.items():
        ratios[name] = {"peak_parsec_over_darts": r["parsec"]["peak"] / r["darts"]["peak"],
                        "temp_parsec_over_darts": r["parsec"]["temp"] / r["darts"]["temp"],
                        "peak_parsec_over_standalone_plain": r["parsec"]["peak"] / standalone["peak"]}
        print(f"{name:5s}: peak(parsec) / peak(darts) = {ratios[name]['peak_parsec_over_darts']:.3f}   temp ratio "
              f"{ratios[name]['temp_parsec_over_darts']:.3f}   peak(parsec) / peak(one architecture, plain) = "
              f"{ratios[name]['peak_parsec_over_standalone_plain']:.3f}")
    if args.output:
        record = {"config": config_text, "batch_size": b, "samples": args.samples, "steps": results,
                  "standalone_plain": standalone, "ratios": ratios, "jax": jax.__version__,
                  "backend": jax.default_backend()}
        outputs.write_json(args.output, record)


if __name__ == "__main__":
    main()
