"""jaxnas.profiling: time per named scope of a compiled program, from jax.profiler's trace."""

import jax
import jax.numpy as jnp
import pytest

from jaxnas import profiling

HLO = """HloModule jit_step, entry_computation_layout={()->f32[]}

%fused_computation (param_0: f32[4,4]) -> f32[4,4] {
  %param_0 = f32[4,4]{1,0} parameter(0)
  ROOT %dot.1 = f32[4,4]{1,0} dot(%param_0, %param_0), lhs_contracting_dims={1}, rhs_contracting_dims={0}, metadata={op_name="jit(step)/train/while/body/dot_general"}
}

%body (p: (s32[], f32[4,4])) -> (s32[], f32[4,4]) {
  %p = (s32[], f32[4,4]{1,0}) parameter(0)
  %x = f32[4,4]{1,0} get-tuple-element(%p), index=1
  %ynn_fusion = f32[4,4]{1,0} fusion(%x), kind=kCustom, calls=%fused_computation
  %copy.3 = f32[4,4]{1,0} copy(%ynn_fusion)
  %i = s32[] get-tuple-element(%p), index=0
  ROOT %t = (s32[], f32[4,4]{1,0}) tuple(%i, %copy.3)
}

%cond (q: (s32[], f32[4,4])) -> pred[] {
  %q = (s32[], f32[4,4]{1,0}) parameter(0)
  ROOT %c = pred[] constant(false)
}

ENTRY %main (a: f32[4,4]) -> f32[] {
  %a = f32[4,4]{1,0} parameter(0)
  %init = (s32[], f32[4,4]{1,0}) tuple(%zero, %a)
  %while.1 = (s32[], f32[4,4]{1,0}) while(%init), condition=%cond, body=%body, metadata={op_name="jit(step)/train/while"}
  %sin.1 = f32[4,4]{1,0} sine(%a), metadata={op_name="jit(step)/score/inner/sin"}
  ROOT %r = f32[] reduce(%sin.1, %zero), dimensions={0,1}, to_apply=%add, metadata={op_name="jit(step)/reduce_sum"}
}
"""


def test_instructions_take_the_innermost_scope_or_inherit_one_when_xla_dropped_their_metadata():
    scopes = profiling.instruction_scopes(HLO, ("train", "score", "inner"))
    assert scopes["dot.1"] == "train"
    assert scopes["ynn_fusion"] == "train"  # no metadata: the scope of the computation it calls
    assert scopes["copy.3"] == "train"  # no metadata, calls nothing: the scope of the loop it is in
    assert scopes["sin.1"] == "inner"  # the innermost of the wanted scopes on its path
    assert scopes["r"] == profiling.OTHER
    assert "while.1" not in scopes  # control flow: its body's instructions have their own events


def test_instructions_are_classified_by_their_heaviest_operation():
    kinds = profiling.instruction_kinds(HLO)
    assert kinds["dot.1"] == "matmul"
    assert kinds["ynn_fusion"] == "matmul"  # a fusion: the kind of what it fuses
    assert kinds["copy.3"] == "copy"
    assert kinds["sin.1"] == "elementwise"
    assert kinds["r"] == "reduce"
    assert "while.1" not in kinds
    assert set(kinds.values()) <= set(profiling.KINDS)


def test_a_programs_time_goes_to_the_scope_that_does_the_work():
    def step(x):
        with jax.named_scope("train"):
            x = jax.lax.fori_loop(0, 16, lambda i, x: jnp.tanh(x @ x / 512), x)
        with jax.named_scope("score"):
            return jnp.sum(x)

    seconds = profiling.time_scopes(step, (jnp.ones((512, 512)),), ("train", "score", "unused"), repeats=2)
    assert set(seconds) == {"train", "score", "unused", profiling.OTHER}
    assert seconds["unused"] == 0.0 and seconds["score"] > 0
    # Sixteen 512^3 matmuls (4 GFLOP) against one sum: more than any descheduling on a loaded machine.
    assert seconds["train"] > seconds["score"] + seconds[profiling.OTHER]


def test_a_scopes_time_is_split_by_kind_of_operation():
    def step(x, rows):
        with jax.named_scope("train"):
            x = jax.lax.fori_loop(0, 8, lambda i, x: jnp.tanh(x @ x / 512), x)
        with jax.named_scope("score"):
            return x[rows].sum(0)

    compiled = jax.jit(step).lower(jnp.ones((512, 512)), jnp.arange(64)).compile()
    seconds = profiling.scope_kind_seconds(compiled, (jnp.ones((512, 512)), jnp.arange(64)), ("train", "score"))
    assert set(seconds) == {"train", "score", profiling.OTHER}
    assert all(set(kinds) == set(profiling.KINDS) for kinds in seconds.values())
    # Eight 512^3 matmuls (2 GFLOP): the loop's time is theirs, whatever else it fuses.
    assert seconds["train"]["matmul"] > sum(seconds["train"].values()) / 2
    assert seconds["score"]["matmul"] == 0.0 and sum(seconds["score"].values()) > 0


def test_not_an_hlo_module_is_refused():
    with pytest.raises(ValueError, match="HLO"):
        profiling._module_name("something else")


@pytest.mark.slow
def test_profile_round_script_splits_a_gcn_round_into_its_phases(tmp_path):
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "round.json"
    proc = subprocess.run([sys.executable, "-m", "scripts.profile_round", "--algorithm=gcn",
                           "--benchmark=nb201_synthetic", "--seeds=2", "--queries=10", "--repeats=1",
                           "--set", "epochs=3", "--set", "hidden=8", "--set", "fc_hidden=8",
                           "--set", "label_capacity=40", f"--output={out}"],
                          cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["queries_before_round"] == [10, 10] and result["config"]["epochs"] == 3
    assert set(result["traced_seconds"]) == {"fit", "score", profiling.OTHER}
    assert result["traced_seconds"]["fit"] > 0 and result["traced_seconds"]["score"] > 0
    assert abs(sum(result["traced_fraction"].values()) - 1.0) < 1e-6
    assert result["traced_seconds_by_kind"]["fit"]["matmul"] > 0
    assert abs(sum(result["traced_fraction_by_kind"].values()) - 1.0) < 1e-6
    bad = subprocess.run([sys.executable, "-m", "scripts.profile_round", "--algorithm=gcn",
                          "--benchmark=nb201_synthetic", "--set", "nope=1"], cwd=root, capture_output=True, text=True)
    assert bad.returncode != 0 and "nope" in bad.stderr
