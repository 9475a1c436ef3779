"""Checkpoints for long runs (searches, supernets, PARSEC), on orbax.

A run saves its whole state pytree (params, optimiser state, ledgers, PRNG keys) every N
steps together with a small JSON of what run it is. ``--resume`` restores the latest
checkpoint after checking that JSON matches the command, and continues. Runs derive
every random key from (seed, step), so a resumed run yields exactly the result of an
uninterrupted one.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp

_RUN_FILE = "run.json"


class CheckpointMismatchError(ValueError):
    """--resume was asked for a checkpoint written by a different run."""


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_savable(tree: Any) -> Any:
    # Typed PRNG keys are stored as their raw uint32 data.
    return jax.tree_util.tree_map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _from_savable(saved: Any, template: Any) -> Any:
    def restore(x, t):
        if _is_key(t):
            return jax.random.wrap_key_data(x, impl=jax.random.key_impl(t))
        if isinstance(t, jax.Array):
            return jax.device_put(x, t.sharding)  # same placement as a fresh run
        return x

    return jax.tree_util.tree_map(restore, saved, template)


class Checkpointer:
    """Saves/restores one run's state under ``directory`` (keeps the newest ``keep``)."""

    def __init__(self, directory: str | pathlib.Path, run: dict, keep: int = 2):
        self.directory = pathlib.Path(directory).absolute()
        self.run = json.loads(json.dumps(run))  # normalised: what a JSON round trip gives
        self.directory.mkdir(parents=True, exist_ok=True)
        self._manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        )

    def save(self, step: int, state: Any) -> None:
        (self.directory / _RUN_FILE).write_text(json.dumps(self.run, indent=1, sort_keys=True))
        self._manager.save(step, args=ocp.args.StandardSave(_to_savable(state)), force=True)
        self._manager.wait_until_finished()

    def latest_step(self) -> Optional[int]:
        return self._manager.latest_step()

    def restore(self, template: Any) -> tuple[int, Any]:
        """(step, state) of the newest checkpoint, shaped like ``template``.

        Raises CheckpointMismatchError when the checkpoint belongs to another run and
        FileNotFoundError when there is none.
        """
        step = self.latest_step()
        if step is None:
            raise FileNotFoundError(f"no checkpoint to resume from in {self.directory}")
        saved_run = json.loads((self.directory / _RUN_FILE).read_text())
        if saved_run != self.run:
            diff = {k: (saved_run.get(k), self.run.get(k)) for k in set(saved_run) | set(self.run)
                    if saved_run.get(k) != self.run.get(k)}
            raise CheckpointMismatchError(
                f"checkpoint in {self.directory} was written by a different run; differing "
                f"settings (checkpoint, now): {diff}. Use another --checkpoint_dir or drop --resume."
            )
        abstract = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), _to_savable(template)
        )
        saved = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        return step, _from_savable(saved, template)

    def close(self) -> None:
        self._manager.close()
