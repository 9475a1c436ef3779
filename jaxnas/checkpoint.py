"""Checkpoints for long runs (searches, supernets, PARSEC), on orbax.

A run saves its whole state pytree (params, optimiser state, ledgers, PRNG keys) every N
steps. Each step directory also holds a small JSON item: the run's identity (what run it
is: the settings a resumed run must share) and progress information (e.g. the wall time
spent so far). orbax writes a step into a temporary directory and renames it when
complete, so a step's identity and state are committed together: a crash can never pair
one run's identity with another run's state.

``--resume`` restores the newest step that restores AND validates (a garbled or truncated
newest step is set aside as ``<step>.unreadable`` and the previous one is used), after
checking its identity matches the command. A new run refuses a directory that already
holds checkpoints unless told to overwrite them. Runs derive every random key from
(seed, step), so a resumed run yields exactly the result of an uninterrupted one. Every
step also records the run's parts: the code (git state) of each process that worked on
it, and the step it started from, so a run resumed on other code says so.

Importing this module turns orbax's INFO logging off (a dozen lines per save); warnings
and errors still show, and absl verbosity >= 1 (``-v 1``) shows everything.
"""

from __future__ import annotations

import json
import logging as std_logging
import pathlib
import shutil
from typing import Any, Callable, NamedTuple, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from jaxnas import outputs, provenance

_STATE, _RUN = "state", "run"  # the two items of every step
_LEGACY_RUN_FILE = "run.json"  # the run identity of checkpoints from older versions


class CheckpointMismatchError(ValueError):
    """--resume was asked for a checkpoint written by a different run."""


class CheckpointExistsError(ValueError):
    """A new run was pointed at a directory that already holds checkpoints."""


class CheckpointUnreadableError(FileNotFoundError):
    """No checkpoint step in the directory restores and validates."""


class Restored(NamedTuple):
    step: int
    state: Any
    info: dict  # what was saved with the step (``save(..., info=...)``)


def _quiet_orbax(record: std_logging.LogRecord) -> bool:
    # orbax logs through absl; keep its warnings and errors, drop its INFO unless -v >= 1.
    if record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname.replace("\\", "/"):
        return True
    return logging.get_verbosity() >= logging.DEBUG


logging.get_absl_logger().addFilter(_quiet_orbax)


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


def _is_step_entry(path: pathlib.Path) -> bool:
    """A step directory, or orbax's temporary directory of an unfinished one."""
    return path.is_dir() and (path.name.isdigit() or ".orbax-checkpoint-tmp" in path.name)


class Checkpointer:
    """Saves/restores one run's state under ``directory`` (keeps the newest ``keep`` steps).

    run: the run's identity (JSON-serialisable): a resumed run must have the same.
    resume: None (the caller checks ``latest_step()`` itself), True (this run continues
        from the newest checkpoint, see ``restore``) or False (a new run: the directory
        must hold no checkpoint, else CheckpointExistsError, unless ``overwrite``).
    overwrite: with ``resume=False``, delete the directory's checkpoints (its step
        directories; nothing else) instead of refusing.

    ``parts``: one ``{"from_step", "git"}`` per process that made the run's state, this one
    last (its git state as it started); a restore prepends the restored step's parts
    (one with git None for steps saved without them).
    """

    def __init__(
        self,
        directory: str | pathlib.Path,
        run: dict,
        keep: int = 2,
        *,
        resume: Optional[bool] = None,
        overwrite: bool = False,
    ):
        self.directory = pathlib.Path(directory).absolute()
        self.run = json.loads(json.dumps(run))  # normalised: what a JSON round trip gives
        self._git = provenance.git_state()  # the code as this process starts
        self.parts = [{"from_step": 0, "git": self._git}]
        outputs.prepare_output_dir(self.directory)  # OutputDirError: a file, under a file, read-only
        if resume is False:
            used = self._used_entries()
            if used and not overwrite:
                raise CheckpointExistsError(
                    f"checkpoint directory {self.directory} already holds checkpoints "
                    f"({', '.join(sorted(p.name for p in used)[:5])}); pass --resume to continue that "
                    "run, --overwrite to delete them, or use another --checkpoint_dir"
                )
            for entry in used:
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            if used:
                logging.warning("deleted %d old checkpoint entries in %s (--overwrite)", len(used), self.directory)
        self._manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        )

    def _used_entries(self) -> list[pathlib.Path]:
        if not self.directory.is_dir():
            return []
        return [p for p in self.directory.iterdir()
                if _is_step_entry(p) or p.name == _LEGACY_RUN_FILE or p.name.endswith(".unreadable")]

    def save(self, step: int, state: Any, info: Optional[dict] = None) -> None:
        """Saves ``state`` as step ``step``, with the run identity, ``info`` (a JSON dict)
        and the run's parts (``info["parts"]``)."""
        run_item = {"run": self.run, "info": json.loads(json.dumps({**(info or {}), "parts": self.parts}))}
        args = ocp.args.Composite(
            **{_STATE: ocp.args.StandardSave(_to_savable(state)), _RUN: ocp.args.JsonSave(run_item)}
        )
        self._manager.save(step, args=args, force=True)
        self._manager.wait_until_finished()

    def latest_step(self) -> Optional[int]:
        return self._manager.latest_step()

    def restore(self, template: Any, validate: Optional[Callable[[int, Any], Optional[str]]] = None):
        """(step, state) of the newest checkpoint that restores and validates; see
        :meth:`restore_with_info`."""
        restored = self.restore_with_info(template, validate)
        return restored.step, restored.state

    def restore_with_info(
        self, template: Any, validate: Optional[Callable[[int, Any], Optional[str]]] = None
    ) -> Restored:
        """The newest step whose identity and state read back, shaped like ``template``.

        Steps are tried newest first. A step that cannot be read (garbled or truncated
        files, missing items, a state of another shape) or that ``validate(step, state)``
        rejects (it returns a reason) is renamed ``<step>.unreadable`` and the previous
        step is tried. Raises FileNotFoundError when there is no checkpoint,
        CheckpointMismatchError when the newest readable identity belongs to another run,
        and CheckpointUnreadableError (naming the directory and each step's problem)
        when no step restores.
        """
        steps = sorted(self._manager.all_steps(), reverse=True)
        if not steps:
            raise FileNotFoundError(f"no checkpoint to resume from in {self.directory}")
        abstract = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), _to_savable(template)
        )
        problems = []
        for step in steps:
            try:
                item = self._manager.restore(step, args=ocp.args.Composite(**{_RUN: ocp.args.JsonRestore()}))[_RUN]
                if not isinstance(item, dict) or not isinstance(item.get("run"), dict):
                    raise ValueError(f"the {_RUN!r} item is not a run description")
            except Exception as err:  # noqa: BLE001 - any failure means this step cannot be used
                problems.append((step, f"run identity unreadable ({type(err).__name__}: {_short(err)})"))
                continue
            self._check_identity(item["run"], step)
            try:
                saved = self._manager.restore(
                    step, args=ocp.args.Composite(**{_STATE: ocp.args.StandardRestore(abstract)}))[_STATE]
                state = _from_savable(saved, template)
                reason = validate(step, state) if validate is not None else None
            except Exception as err:  # noqa: BLE001
                problems.append((step, f"state unreadable ({type(err).__name__}: {_short(err)})"))
                continue
            if reason:
                problems.append((step, f"state invalid: {reason}"))
                continue
            self._set_aside([s for s, _ in problems])
            for bad, why in problems:
                logging.warning("checkpoint step %d in %s: %s; resumed from step %d instead",
                                bad, self.directory, why, step)
            info = item.get("info") if isinstance(item.get("info"), dict) else {}
            earlier = info.get("parts")
            if not isinstance(earlier, list) or not earlier:
                earlier = [{"from_step": 0, "git": None}]
            self.parts = [*earlier, {"from_step": step, "git": self._git}]
            return Restored(step, state, {k: v for k, v in info.items() if k != "parts"})
        details = "; ".join(f"step {s}: {why}" for s, why in problems)
        raise CheckpointUnreadableError(
            f"no checkpoint in {self.directory} can be restored ({details}). Start afresh with "
            "--overwrite or another --checkpoint_dir"
        )

    def _check_identity(self, saved_run: dict, step: int) -> None:
        if saved_run == self.run:
            return
        diff = {k: (saved_run.get(k), self.run.get(k)) for k in sorted(set(saved_run) | set(self.run))
                if saved_run.get(k) != self.run.get(k)}
        raise CheckpointMismatchError(
            f"checkpoint in {self.directory} (step {step}) was written by a different run; differing "
            f"settings (checkpoint, now): {diff}. Use another --checkpoint_dir or drop --resume."
        )

    def _set_aside(self, steps) -> None:
        """Renames unreadable steps so that later saves of the same step numbers succeed."""
        if not steps:
            return
        for step in steps:
            source = self.directory / str(step)
            target = self.directory / f"{step}.unreadable"
            suffix = 1
            while target.exists():
                target = self.directory / f"{step}.unreadable{suffix}"
                suffix += 1
            if source.exists():
                source.rename(target)
        self._manager.reload()

    def close(self) -> None:
        self._manager.close()


def _short(err: BaseException, limit: int = 300) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
