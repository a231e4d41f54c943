"""Time of the tiling passes on the paper's networks, and where ResNet50's tensors live.

Baseline, measured in the same run: verifying the same tg module (one walk over every
op), to show what mapping costs beyond touching the IR once.

    python benchmarks/tiling.py [--grid 4x4] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe
from timing import median_time

from bsir.dialects import tiling
from bsir.dialects.tg import only_graph
from bsir.ir import verify_module
from bsir.models import build_model
from bsir.passes.convert_tg_to_tiling import ConvertTgToTilingPass
from bsir.passes.tg_fold_batchnorm import fold_batchnorms
from bsir.passes.tiling_color_memtiles import TilingColorMemtilesPass
from bsir.weights import materialize


def residency(module) -> list[str]:
    lines = []
    for layer in only_graph(module).block.ops:
        if not isinstance(layer, tiling.LayerOp):
            continue
        place = layer.placement.as_dict()
        inputs = ["DDR" if a < 0 else "memtile" for a in place["inputs"][::2]]
        out = "DDR" if place["output"][0] < 0 else "memtile"
        moves = [f"{t.kind.data}x{t.repeat}" for t in layer.transfers()
                 if t.kind.data in ("load", "store", "spill")]
        ddr = layer.ddr.as_dict()
        lines.append(f"{layer.layer_name.data:24s} in {','.join(inputs):16s} out {out:8s} "
                     f"ddr passes {ddr['h_passes']}x{ddr['cout_passes']}  "
                     f"{' '.join(moves)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="4x4")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    convert = ConvertTgToTilingPass(grid=args.grid)
    color = TilingColorMemtilesPass()
    print(f"machine: {describe()}")
    print(f"grid {args.grid}, median of {args.repeat}\n")
    header = f"{'model':<14}{'verify s':>10}{'convert s':>11}{'color s':>9}{'layers':>8}"
    print(header)
    print("-" * len(header))
    for name in ("resnet50", "inception_v3", "vgg16"):
        modules = [build_model(name).module for _ in range(2 * args.repeat + 1)]
        base = median_time(lambda m=modules[0]: verify_module(m), args.repeat, warm_up=False)
        pending = iter(modules[1:])
        converted = []

        def run_convert(pending=pending, converted=converted) -> None:
            module = next(pending)
            convert.apply(None, module)
            converted.append(module)

        conv_t = median_time(run_convert, args.repeat, warm_up=False)
        done = iter(converted)
        color_t = median_time(lambda done=done: color.apply(None, next(done)), args.repeat,
                              warm_up=False)
        layers = sum(isinstance(op, tiling.LayerOp) for op in only_graph(converted[0]).block.ops)
        print(f"{name:<14}{base:>10.3f}{conv_t:>11.3f}{color_t:>9.3f}{layers:>8}")
    model = build_model("resnet50")
    module = model.module
    fold_batchnorms(module, materialize(model.specs, 0))
    convert.apply(None, module)
    color.apply(None, module)
    print(f"\nResNet50 (batch norms folded) on {args.grid}: where each layer's tensors live")
    print("\n".join(residency(module)))


if __name__ == "__main__":
    main()
