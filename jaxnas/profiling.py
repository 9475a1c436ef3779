"""Where a compiled program's time goes, by ``jax.named_scope`` and by kind of operation.

:func:`scope_kind_seconds` runs a compiled function under ``jax.profiler.trace``, reads
the trace's per-operation events (its XSpace: XLA names each executed HLO instruction)
and adds each instruction's time to the innermost of the given scope names on its
``op_name`` metadata (the ``jax.named_scope`` path the instruction was traced under;
time outside them is ``"other"``) and to the instruction's kind (:data:`KINDS`: a matrix
product, a gather or scatter, a reduction, a copy, element-wise work, or other; a fusion
takes the kind of the heaviest operation it fuses). :func:`scope_seconds` is its total
per scope. Control-flow instructions (``while``, ``conditional``, ``call``) are skipped:
the instructions of their bodies have their own events. Times are summed over threads,
so on several devices or threads they are CPU-like totals, and the profiler's per-event
overhead weighs on programs of many small operations: read the fractions, not the
absolute seconds, and compare programs within one run.
"""

from __future__ import annotations

import pathlib
import re
import tempfile
from typing import Any, Callable, Sequence

import jax

OTHER = "other"
_CONTROL_FLOW = frozenset({"while", "conditional", "call"})
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%([^\s=]+) = (.*)$")
_COMPUTATION = re.compile(r"^\s*(?:ENTRY\s+)?%([^\s(]+) .*\{\s*$")
_OPCODE = re.compile(r"[\]\}\)] ([a-z][a-z0-9\-]*)\(")
_OP_NAME = re.compile(r'metadata=\{[^}]*op_name="([^"]*)"')
_CALLED = re.compile(r"(?:calls|body|condition|to_apply|branch_computations)=\{?([^,}]+(?:, *%[^,}]+)*)\}?")


# Kinds of operation, heaviest first ("reduce" includes sorts): a fusion takes the first kind
# among its operations.
KINDS = ("matmul", "gather_scatter", "reduce", "copy", "elementwise", "other")
_KIND_OF_OPCODE = {"dot": "matmul", "convolution": "matmul", "gather": "gather_scatter",
                   "scatter": "gather_scatter", "reduce": "reduce", "reduce-window": "reduce", "sort": "reduce",
                   "copy": "copy", "transpose": "copy", "custom-call": "other"}
_LAYOUT_ONLY = frozenset({"parameter", "constant", "bitcast", "reshape", "tuple", "get-tuple-element"})


class _Hlo:
    """The instructions of a compiled HLO module's text: opcode, own scope path, the
    computations each calls, and the computation each belongs to."""

    def __init__(self, hlo_text: str):
        self.opcodes, self.op_names, self.calls, self.parent = {}, {}, {}, {}
        self.caller_of: dict[str, str] = {}  # computation -> an instruction that calls it
        self.members: dict[str, list] = {}  # computation -> its instructions
        computation = None
        for line in hlo_text.splitlines():
            match = _INSTRUCTION.match(line)
            if not match:
                header = _COMPUTATION.match(line)
                if header:
                    computation = header.group(1)
                continue
            name, rest = match.groups()
            opcode = _OPCODE.search(rest)
            self.opcodes[name] = opcode.group(1) if opcode else ""
            self.parent[name] = computation
            self.members.setdefault(computation, []).append(name)
            op_name = _OP_NAME.search(rest)
            if op_name:
                self.op_names[name] = op_name.group(1).split("/")
            called = [c.strip().lstrip("%") for group in _CALLED.findall(rest) for c in group.split(",")]
            self.calls[name] = called
            for c in called:
                self.caller_of.setdefault(c, name)

    def timed(self):
        """The instructions that have their own trace events: not control flow."""
        return [name for name, opcode in self.opcodes.items() if opcode and opcode not in _CONTROL_FLOW]


def instruction_scopes(hlo_text: str, scopes: Sequence[str]) -> dict[str, str]:
    """Instruction name -> the innermost of ``scopes`` on its op_name (or OTHER), for the
    compiled HLO text's instructions that are not control flow. An instruction without
    op_name metadata (XLA drops it on some fusions) takes the scope of the computations it
    calls, else that of the instruction that calls its own computation."""
    return _instruction_scopes(_Hlo(hlo_text), scopes)


def _instruction_scopes(hlo: _Hlo, scopes: Sequence[str]) -> dict[str, str]:
    wanted = set(scopes)
    own = {}
    for name, path in hlo.op_names.items():
        found = [part for part in path if part in wanted]
        own[name] = found[-1] if found else OTHER

    def inner(name, seen):  # the first scope among the called computations' instructions
        for comp in hlo.calls.get(name, ()):
            for member in hlo.members.get(comp, ()):
                if member in seen:
                    continue
                seen.add(member)
                scope = own.get(member) if own.get(member, OTHER) != OTHER else inner(member, seen)
                if scope and scope != OTHER:
                    return scope
        return None

    def outer(name, depth=0):  # the scope of whoever calls this instruction's computation
        caller = hlo.caller_of.get(hlo.parent.get(name))
        if caller is None or depth > 64:
            return OTHER
        return own[caller] if caller in own else outer(caller, depth + 1)

    return {name: own[name] if name in own else (inner(name, set()) or outer(name)) for name in hlo.timed()}


def instruction_kinds(hlo_text: str) -> dict[str, str]:
    """Instruction name -> its kind (:data:`KINDS`), for the instructions that are not
    control flow; a fusion's kind is the heaviest among the operations it calls."""
    return _instruction_kinds(_Hlo(hlo_text))


def _instruction_kinds(hlo: _Hlo) -> dict[str, str]:
    def kind(name):
        opcode = hlo.opcodes[name]
        if opcode != "fusion":
            return _KIND_OF_OPCODE.get(opcode, "elementwise")
        fused = {kind(member) for comp in hlo.calls[name] for member in hlo.members.get(comp, ())
                 if hlo.opcodes[member] not in _LAYOUT_ONLY}
        if fused == {"copy"}:  # a fusion of copies and transposes only
            return "copy"
        fused.discard("copy")  # otherwise they are layout changes of the fusion's own work
        return min(fused, key=KINDS.index) if fused else "elementwise"

    return {name: kind(name) for name in hlo.timed()}


def _module_name(hlo_text: str) -> str:
    first = hlo_text.lstrip().split(None, 2)
    if len(first) < 2 or first[0] != "HloModule":
        raise ValueError("not an HLO module's text")
    return first[1].rstrip(",")


def scope_kind_seconds(compiled: Any, args: tuple, scopes: Sequence[str], repeats: int = 1,
                       trace_dir: str | None = None) -> dict[str, dict[str, float]]:
    """Seconds per scope (plus OTHER) and kind (:data:`KINDS`) of ``repeats`` calls of
    ``compiled(*args)`` (an ahead-of-time compiled function, e.g.
    ``jax.jit(f).lower(*args).compile()``), summed over the trace's threads; the trace is
    written under ``trace_dir`` (default a temporary folder, deleted). Every scope and kind
    is in the result, 0 when nothing of it ran."""
    text = compiled.as_text()
    module = _module_name(text)
    hlo = _Hlo(text)
    scope_of, kind_of = _instruction_scopes(hlo, scopes), _instruction_kinds(hlo)
    seconds = {scope: dict.fromkeys(KINDS, 0.0) for scope in (*scopes, OTHER)}
    with tempfile.TemporaryDirectory() as scratch:
        folder = pathlib.Path(trace_dir or scratch)
        with jax.profiler.trace(str(folder)):
            for _ in range(repeats):
                jax.block_until_ready(compiled(*args))
        # The XSpace, not the trace-viewer JSON beside it: that one stops at 1,000,000 events.
        spaces = sorted(folder.glob("**/*.xplane.pb"), key=lambda p: p.stat().st_mtime)
        if not spaces:
            raise RuntimeError(f"jax.profiler wrote no trace under {folder}")
        profile = jax.profiler.ProfileData.from_file(str(spaces[-1]))
        for plane in profile.planes:
            for line in plane.lines:
                for event in line.events:
                    scope = scope_of.get(event.name)
                    if scope is None:
                        continue
                    stats = dict(event.stats)
                    if stats.get("hlo_module") == module and stats.get("hlo_op") == event.name:
                        seconds[scope][kind_of[event.name]] += event.duration_ns * 1e-9
    return seconds


def scope_seconds(compiled: Any, args: tuple, scopes: Sequence[str], repeats: int = 1,
                  trace_dir: str | None = None) -> dict[str, float]:
    """Seconds per scope (plus OTHER): :func:`scope_kind_seconds` summed over kinds."""
    return scope_totals(scope_kind_seconds(compiled, args, scopes, repeats, trace_dir))


def scope_totals(by_kind: dict[str, dict[str, float]]) -> dict[str, float]:
    """Seconds per scope of a :func:`scope_kind_seconds` result (its kinds summed)."""
    return {scope: sum(kinds.values()) for scope, kinds in by_kind.items()}


def time_scopes(fn: Callable, args: tuple, scopes: Sequence[str], repeats: int = 1) -> dict[str, float]:
    """:func:`scope_seconds` of ``jax.jit(fn)`` compiled for ``args`` (run once untimed first)."""
    compiled = jax.jit(fn).lower(*args).compile()
    jax.block_until_ready(compiled(*args))
    return scope_seconds(compiled, args, scopes, repeats)


__all__ = ["KINDS", "OTHER", "instruction_kinds", "instruction_scopes", "scope_kind_seconds", "scope_seconds",
           "scope_totals", "time_scopes"]
