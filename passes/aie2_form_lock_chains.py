"""``aie2-form-lock-chains``: the second code-generation pass (paper section 4.4).

Chains each layer's streamed instructions with core locks so that loads, computes and
stores of successive iterations overlap on ping/pong buffers yet stay logically ordered:

    LOADFM  acquire k0 (a free buffer)   release k1 (input ready)
    COMP    acquire k1                   release k2 (output ready)
    WRITEFM acquire k2                   release k0 (buffer free again)

with two tokens on k0 (ping and pong). Head, body and tail use the same ring in
order, the chain k0 -> k1 -> k2 of every phase. A phase that writes nothing (an
input-channel chunk whose partial sums stay in the core's scratch) closes the ring
k0 -> k1 -> k0: its COMP frees the input buffer. LOADWDM is synchronous and halting and
takes no lock.

The static check treats the locks of a layer as a marked graph (locks are places,
instructions are transitions from the lock they acquire to the lock they release): it
proves every acquire has a matching release in the same phase, and that no cycle of
locks is without a token — by Commoner's theorem exactly the condition for the chain to
run forever without deadlock. A program that fails is rejected, naming the layer, the
phase and the cycle. ``aie2.layer`` ops that already have locks are checked as they are.

A weight load issued ahead (``--overlap weights``) crosses layers: it releases a lock of
the weight memtiles when its bytes have landed (``signal``) and every LOADWDM of its
layer acquires it first (``wait``). Prefetches whose spans of layers overlap get
different locks, from the top of the memtile's range down (its streams number theirs
from the bottom). The check proves that every prefetch signals the lock its layer's
LOADWDMs wait on (else the cores could read weights still in flight), that every wait
has that signal (else they wait forever), that no lock serves two prefetches at once,
that a prefetch starts no earlier than the program, and that its memtile range is its
own in every layer it runs under (in their ``live`` ranges, overlapping none of the
others: else it would overwrite a tensor still in use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from bsir.dialects import aie2, tiling
from bsir.dialects.record_attr import i64_attr
from bsir.dialects.tg import only_graph
from bsir.targets.aie2.channels import LOCKS_PER_STREAM
from bsir.targets.aie2.memtile_allocator import align

FREE, INPUT_READY, OUTPUT_READY = 0, 1, 2
PING_PONG = 2
CHAIN = {aie2.LoadFMOp: (FREE, INPUT_READY), aie2.CompOp: (INPUT_READY, OUTPUT_READY),
         aie2.WriteFMOp: (OUTPUT_READY, FREE)}


def form_chains(layer: aie2.LayerOp) -> None:
    """Give the streamed instructions their locks and the layer its lock counts. In a
    phase without WRITEFM (partial sums kept in the core's scratch) COMP frees the input
    buffer itself."""
    writes = {op.phase.data for op in layer.instructions if isinstance(op, aie2.WriteFMOp)}
    for op in layer.instructions:
        locks = CHAIN.get(type(op))
        if locks is None:
            continue
        if isinstance(op, aie2.CompOp) and op.phase.data not in writes:
            locks = (INPUT_READY, FREE)
        op.properties["acquire"] = i64_attr(locks[0])
        op.properties["release"] = i64_attr(locks[1])
    layer.properties["locks"] = aie2.LocksAttr.make(init=[PING_PONG, 0, 0])


def check_chains(layer: aie2.LayerOp) -> None:
    """Raise if a lock is acquired without a matching release or a cycle has no token."""
    name = layer.layer_name.data
    init = list(layer.locks.get("init")) if layer.locks is not None else []
    phases: dict[str, list[aie2.InstructionOp]] = {}
    for op in layer.instructions:
        if op.field("acquire", aie2.NO_LOCK) != aie2.NO_LOCK \
                or op.field("release", aie2.NO_LOCK) != aie2.NO_LOCK:
            phases.setdefault(op.phase.data, []).append(op)
    for phase, ops in phases.items():
        edges: set[tuple[int, int]] = set()
        acquired: dict[int, list[str]] = {}
        released: dict[int, list[str]] = {}
        for op in ops:
            a, r = op.field("acquire", aie2.NO_LOCK), op.field("release", aie2.NO_LOCK)
            kind = op.name.split(".")[1].upper()
            if a == aie2.NO_LOCK or r == aie2.NO_LOCK:
                raise PassFailedException(
                    f"layer '{name}' {phase}: {kind} {'acquires' if r == -1 else 'releases'} "
                    "a lock but does not pass it on")
            acquired.setdefault(a, []).append(kind)
            released.setdefault(r, []).append(kind)
            edges.add((a, r))
        for lock in sorted(set(acquired) | set(released)):
            if lock >= len(init):
                raise PassFailedException(
                    f"layer '{name}' {phase}: lock k{lock} has no initial count")
            if len(acquired.get(lock, [])) != len(released.get(lock, [])):
                raise PassFailedException(
                    f"layer '{name}' {phase}: lock k{lock} is acquired by "
                    f"{acquired.get(lock, [])} but released by {released.get(lock, [])}")
        cycle = token_free_cycle(edges, init)
        if cycle:
            steps = " -> ".join(f"k{lock}" for lock in [*cycle, cycle[0]])
            raise PassFailedException(
                f"layer '{name}' {phase}: deadlock: the lock cycle {steps} holds no token")


def token_free_cycle(edges: set[tuple[int, int]], init: Sequence[int]) -> list[int] | None:
    """A cycle of locks none of which starts with a token (depth-first search over the
    locks whose initial count is 0), from its smallest lock; None when there is none."""
    free = {lock for edge in edges for lock in edge if init[lock] == 0}
    successors = {lock: sorted(b for a, b in edges if a == lock and b in free) for lock in free}
    state: dict[int, str] = {}

    def visit(lock: int, path: list[int]) -> list[int] | None:
        state[lock] = "open"
        path.append(lock)
        for following in successors[lock]:
            if state.get(following) == "open":
                return path[path.index(following):]
            if following not in state and (found := visit(following, path)):
                return found
        state[lock] = "done"
        path.pop()
        return None

    for start in sorted(free):
        if start not in state and (cycle := visit(start, [])):
            first = cycle.index(min(cycle))
            return cycle[first:] + cycle[:first]
    return None


def prefetches(layers: Sequence[aie2.LayerOp]) -> list[tuple[int, int, aie2.LoadWOp]]:
    """(position of the layer, layers ahead, its weight load) of every prefetch."""
    return [(position, op.field("ahead"), op) for position, op in aie2.prefetched_loads(layers)]


def form_prefetch_locks(layers: Sequence[aie2.LayerOp], locks_per_memtile: int) -> None:
    """Give every prefetch a lock of the weight memtiles (the highest one no prefetch
    whose span of layers overlaps its own holds) and its layer's LOADWDMs the wait."""
    held: list[tuple[int, int]] = []  # (last layer position, lock)
    for position, ahead, load in prefetches(layers):
        held = [(last, lock) for last, lock in held if last >= position - ahead]
        busy = {lock for _, lock in held}
        lock = next(k for k in range(locks_per_memtile - 1, -1, -1) if k not in busy)
        held.append((position, lock))
        load.properties["signal"] = i64_attr(lock)
        for op in layers[position].instructions:
            if isinstance(op, aie2.LoadWDMOp):
                op.properties["wait"] = i64_attr(lock)


def check_prefetches(layers: Sequence[aie2.LayerOp], shared_memtiles: bool,
                     lock_budget: int) -> None:
    """Raise unless every prefetch is signalled, awaited, alone on its lock, inside the
    program and in memtile space of its own (see the module docstring)."""
    spans: list[tuple[int, int, int, str]] = []  # (first, last, lock, layer)
    signalled: dict[int, int] = {}  # layer position -> lock
    for position, ahead, load in prefetches(layers):
        name = layers[position].layer_name.data
        if ahead > position:
            raise PassFailedException(
                f"layer '{name}': its weights load {ahead} layers ahead, before the program "
                f"starts ({position} layers run before it)")
        if "signal" not in load.properties:
            raise PassFailedException(
                f"layer '{name}': race: its weight load runs {ahead} layers ahead and "
                "signals no lock, so its LOADWDM could read the weights before they land")
        lock = load.field("signal")
        signalled[position] = lock
        for first, last, other, owner in spans:
            if other == lock and first <= position and position - ahead <= last:
                raise PassFailedException(
                    f"layer '{name}': the prefetches of '{owner}' and '{name}' both hold "
                    f"weight-memtile lock {lock} at once")
        spans.append((position - ahead, position, lock, name))
        start = load.field("memtile") + load.field("early_at")
        size = align(load.field("early", load.nbytes))
        for other in layers[position - ahead:position]:
            place = other.placement.as_dict() if other.placement is not None else None
            live = [] if place is None else tiling.PlacementAttr.pairs(
                place["live" if shared_memtiles else "weight_live"])
            clash = [(a, n) for a, n in live if a < start + size and start < a + n
                     and (a, n) != (start, size)]
            if (start, size) not in live or clash:
                where = f"[{start}, {start + size})"
                what = f"where it keeps [{clash[0][0]}, {sum(clash[0])})" if clash \
                    else "which does not keep that range for it"
                raise PassFailedException(
                    f"layer '{name}': race: its weights load into {where} under layer "
                    f"'{other.layer_name.data}', {what}")
    if len({lock for *_, lock, _ in spans}) > lock_budget:
        raise PassFailedException(
            f"prefetches hold {len({lock for *_, lock, _ in spans})} weight-memtile locks, "
            f"the memtile has {lock_budget} beside its streams'")
    for position, layer in enumerate(layers):
        for op in layer.instructions:
            if isinstance(op, aie2.LoadWDMOp):
                waits = op.field("wait", aie2.NO_LOCK)
                if waits != signalled.get(position, aie2.NO_LOCK):
                    name = layer.layer_name.data
                    if position in signalled:
                        raise PassFailedException(
                            f"layer '{name}': race: its LOADWDM does not wait on lock "
                            f"{signalled[position]}, which its prefetched weights signal")
                    raise PassFailedException(
                        f"layer '{name}': deadlock: its LOADWDM waits on weight-memtile "
                        f"lock {waits}, which no prefetch of its weights signals")


@dataclass(frozen=True)
class Aie2FormLockChainsPass(ModulePass):
    """Chain loads, computes and stores with ping/pong locks; prove the chain is live."""

    name = "aie2-form-lock-chains"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        ops = list(only_graph(op).block.ops)
        if any(isinstance(layer, tiling.LayerOp) for layer in ops):
            raise PassFailedException(
                "aie2-form-lock-chains: the layers are not lowered: run "
                "convert-tiling-to-aie2 first")
        layers = [layer for layer in ops if isinstance(layer, aie2.LayerOp)]
        array = op.attributes.get(tiling.ARRAY_ATTR)
        needed = len({lock for pair in CHAIN.values() for lock in pair})
        if layers and isinstance(array, tiling.HardwareAttr) \
                and array.get("locks_per_core") < needed:
            raise PassFailedException(
                f"aie2-form-lock-chains: a core needs {needed} locks for its ping/pong "
                f"chain, the array's cores have {array.get('locks_per_core')}")
        for layer in layers:
            if layer.locks is None:
                form_chains(layer)
            check_chains(layer)
        if not isinstance(array, tiling.HardwareAttr):
            return
        memtile_locks = array.get("locks_per_memtile")
        budget = memtile_locks - LOCKS_PER_STREAM * (array.get("memtile_mm2s")
                                                     + array.get("memtile_s2mm"))
        loads = prefetches(layers)
        if loads and all("signal" not in load.properties for *_, load in loads) \
                and not any(isinstance(i, aie2.LoadWDMOp) and "wait" in i.properties
                            for layer in layers for i in layer.instructions):
            form_prefetch_locks(layers, memtile_locks)
        check_prefetches(layers, array.get("memtile_mode") == "shared", max(budget, 0))
