"""Built-in models: exact parameter counts, MACs, determinism, export and round trip."""

import numpy as np
import pytest

from bsir.ir import parse_module, print_module, verify_module
from bsir.models import MODELS, build_model
from bsir.stats import layer_stats, summarize
from bsir.weights import load_weights, materialize, save_weights

PAPER_MODELS = {
    # name: (parameters, GMACs, input)
    "resnet50": (25_557_032, 4.1, (1, 224, 224, 3)),
    "inception_v3": (23_834_568, 5.7, (1, 299, 299, 3)),
    "vgg16": (138_357_544, 15.5, (1, 224, 224, 3)),
}


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_paper_model_counts_are_exact(name):
    params, gmacs, shape = PAPER_MODELS[name]
    model = build_model(name)
    verify_module(model.module)
    summary = summarize(model.module)
    assert summary.params == params
    assert summary.macs / 1e9 == pytest.approx(gmacs, abs=0.06)
    assert summary.input_shape == shape
    # The specs describe exactly the weights the IR references.
    assert sum(int(np.prod(s.shape)) for s in model.specs) >= params


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_paper_models_round_trip(name):
    module = build_model(name).module
    text = print_module(module)
    again = parse_module(text, f"{name}.mlir")
    verify_module(again)
    assert module.is_structurally_equivalent(again)
    assert print_module(again) == text


def test_resnet50_layer_shapes_match_torchvision():
    stats = {s.name: s for s in layer_stats(build_model("resnet50").module)}
    assert stats["conv1"].output_shape == (1, 112, 112, 64)
    assert stats["layer1.0.conv1"].input_shapes == ((1, 56, 56, 64),)
    assert stats["layer2.0.conv2"].weight_shape == (128, 3, 3, 128)
    assert stats["layer2.0.conv2"].output_shape == (1, 28, 28, 128)  # stride on the 3x3
    assert stats["layer4.2.conv3"].output_shape == (1, 7, 7, 2048)
    assert stats["fc"].weight_shape == (1000, 2048)
    assert sum(1 for s in stats.values() if s.op == "tg.conv2d") == 53


def test_inception_v3_shapes_match_torchvision():
    stats = {s.name: s for s in layer_stats(build_model("inception_v3").module)}
    assert stats["Conv2d_4a_3x3.conv"].output_shape == (1, 71, 71, 192)
    assert stats["Mixed_6a.branch3x3.conv"].output_shape == (1, 17, 17, 384)
    assert stats["Mixed_7c.branch_pool.conv"].output_shape == (1, 8, 8, 192)
    assert stats["fc"].input_shapes == ((1, 2048),)
    assert sum(1 for s in stats.values() if s.op == "tg.conv2d") == 94


def test_weights_are_deterministic_and_he_normal():
    model = build_model("tiny_resnet")
    a = materialize(model.specs, seed=3)
    b = materialize(reversed(model.specs), seed=3)
    c = materialize(model.specs, seed=4)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])
    big = materialize([s for s in build_model("vgg16").specs
                       if s.key == "features.28.weight"], 0)["features.28.weight"]
    assert big.std() == pytest.approx(np.sqrt(2 / (3 * 3 * 512)), rel=0.01)
    assert abs(big.mean()) < 1e-3


def test_save_and_load_weights_checks_the_ir(tmp_path):
    model = build_model("tiny_cnn")
    arrays = materialize(model.specs, 0)
    save_weights(str(tmp_path / "tiny_cnn.npz"), arrays)
    loaded = load_weights(model.module, str(tmp_path / "net.mlir"))
    assert loaded.keys() == arrays.keys()
    arrays["conv1.weight"] = arrays["conv1.weight"][:8]
    save_weights(str(tmp_path / "tiny_cnn.npz"), arrays)
    with pytest.raises(Exception, match=r"weight 'conv1.weight' has shape \[8, 3, 3, 3\]"):
        load_weights(model.module, str(tmp_path / "net.mlir"))


@pytest.mark.parametrize("name", [n for n in MODELS if n.startswith("tiny")])
def test_small_models_verify(name):
    module = build_model(name).module
    verify_module(module)
    assert summarize(module).params > 0


def test_unknown_model_is_a_clear_error():
    with pytest.raises(Exception, match="unknown model 'resnet51'"):
        build_model("resnet51")
