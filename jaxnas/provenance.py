"""What a result was produced with: code version, preset, and any weak labels it used.

Every entry point adds :func:`run_record` to its results.json, so each figure in
docs/results.md carries the commit it was measured on (and whether the working tree had
uncommitted changes), the preset, and -- for methods that pretrain on weak labels --
what those were and what they cost ("table-assisted" when a benchmark table was used).
"""

from __future__ import annotations

import pathlib
import shlex
import subprocess
import sys
from typing import Any, Optional, Sequence

_REPOSITORY = pathlib.Path(__file__).resolve().parent.parent


def command_line(program: str, args: Optional[Sequence[str]] = None) -> str:
    """``python -m PROGRAM`` with ``args`` (default: this process's arguments), shell-quoted
    so that the recorded command splits back into the same arguments."""
    return shlex.join(["python", "-m", program, *(sys.argv[1:] if args is None else args)])


def git_state(root: Optional[pathlib.Path] = None) -> dict:
    """{"commit": HEAD's sha, "dirty": uncommitted changes to tracked or untracked,
    non-ignored files} of the checkout at ``root``; both None outside a git checkout."""
    root = root or _REPOSITORY

    def git(*args) -> Optional[str]:
        try:
            proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def git_of_parts(git: dict, parts: Sequence[dict]) -> dict:
    """The git record of a run made in ``parts`` (:attr:`jaxnas.checkpoint.Checkpointer.parts`):
    ``git`` (this process's :func:`git_state`) for a one-part run; for a resumed one also
    every part, and ``dirty`` True if any part ran on uncommitted changes (None if a
    part's state is unknown and none was dirty)."""
    if len(parts) <= 1:
        return git
    return {**git, "dirty": any_dirty([part.get("git") or {} for part in parts]), "parts": list(parts)}


def any_dirty(gits: Sequence[dict]) -> Optional[bool]:
    """``dirty`` of a result made by several git states: True if any ran on uncommitted
    changes, None if one's state is unknown and none was dirty, else False."""
    dirty = [git.get("dirty") for git in gits]
    return True if True in dirty else (None if None in dirty else False)


def run_record(config: Any, benchmark: str, preset: str = "default", data_dir: Optional[str] = None) -> dict:
    """The provenance block of a results.json: git state, preset, weak labels.

    ``config`` is the method's (validated) config for the benchmark named ``benchmark``;
    configs with a ``weak_labels`` field (AceNAS) get their weak-label source and cost
    declared (refusals raise, as when the config was validated) and must name
    ``benchmark`` as the searched one, whose own columns they may not use.
    ``table_assisted`` is True when a benchmark table served as weak labels, so no
    comparison table shows the run next to query-only methods without that label.
    """
    record = {"git": git_state(), "preset": preset, "weak_labels": None, "table_assisted": False}
    searched = getattr(config, "searched_benchmark", None)
    if searched is not None and searched != benchmark:
        raise ValueError(f"searched_benchmark={searched!r} but the run is on {benchmark!r}: the weak-label "
                         f"refusals must guard the benchmark actually searched")
    if getattr(config, "weak_labels", None) is not None:
        from jaxnas.predictors import acenas  # lazy: only configs with weak labels need it

        source = acenas.weak_label_source(config, data_dir)
        record["weak_labels"] = source.to_json()
        record["table_assisted"] = source.table_assisted
    return record
