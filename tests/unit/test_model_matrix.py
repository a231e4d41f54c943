"""The paper's three networks map onto every grid, dense and block-sparse, built in and
through ONNX import: no failure (the paper's Table 2 had seven)."""

import numpy as np
import pytest

from bsir import sparsity
from bsir.dialects import tg, tiling
from bsir.dialects.tg import only_graph
from bsir.driver.pipeline import run_pipeline
from bsir.models import build_model

GRIDS = [f"{n}x{n}" for n in range(1, 9)] + ["4x5", "8x4", "3x7"]
MODELS = ["resnet50", "inception_v3", "vgg16"]


def paper_sparsity(module, ratio=0.5, block=(8, 8), seed=0):
    """8x8 blocks at 50 % on every convolution but the first (random scores: mapping
    depends on the mask, not on weight values)."""
    rng = np.random.default_rng(seed)
    convs = [op for op in only_graph(module).block.ops if isinstance(op, tg.Conv2dOp)]
    for conv in convs[1:]:
        grid = sparsity.grid_shape(tg.tensor_shape(conv.weight), block)
        mask = sparsity.select_mask(rng.random(grid), ratio)
        conv.properties["sparsity"] = tg.SparsityAttr.from_mask(block, mask)


def map_and_place(module, grid):
    run_pipeline(module, f"convert-tg-to-tiling{{grid={grid}}},tiling-color-memtiles")
    layers = [op for op in only_graph(module).block.ops if isinstance(op, tiling.LayerOp)]
    assert layers and all(layer.placement is not None for layer in layers)
    return layers


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_built_in_models_map_on_every_grid(name, sparse):
    for grid in GRIDS:
        module = build_model(name).module
        if sparse:
            paper_sparsity(module)
        map_and_place(module, grid)


@pytest.mark.parametrize("name", MODELS)
def test_imported_models_map_like_built_in_ones(tmp_path, name):
    pytest.importorskip("onnx")
    from bsir.onnx_export import export_onnx
    from bsir.onnx_import import import_onnx
    from bsir.weights import materialize

    model = build_model(name)
    path = str(tmp_path / f"{name}.onnx")
    export_onnx(model.module, materialize(model.specs, 0), path)
    for grid in ("4x4", "3x7"):
        for sparse in (False, True):
            imported, _ = import_onnx(path)
            built = build_model(name).module
            if sparse:
                paper_sparsity(imported)
                paper_sparsity(built)
            got = [layer.properties["subvolume"] for layer in map_and_place(imported, grid)]
            expected = [layer.properties["subvolume"] for layer in map_and_place(built, grid)]
            assert got == expected
