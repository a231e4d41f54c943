"""The lower bound per layer: never above the estimate, and what binds it makes sense."""

import pytest

import bsir
from bsir.targets.aie2.bound import busiest_core_s, covered, layer_bound, needed_input_bytes
from bsir.targets.aie2.geometry import BlockMask
from bsir.targets.aie2.hardware import resolve_array
from bsir.targets.aie2.mapping import LayerShape


@pytest.mark.parametrize("model", ["resnet50", "inception_v3", "vgg16"])
@pytest.mark.parametrize("grid", ["2x2", "8x8", "3x7"])
@pytest.mark.parametrize("sparsity", [0.0, 0.5])
def test_no_estimate_is_below_its_bound(model, grid, sparsity):
    result = bsir.compile(model, grid=grid, sparsity=sparsity)
    for layer in result.layers:
        assert 0 < layer.bound_s <= layer.total_s, (layer.name, layer.bound_by)
    assert result.timing.bound_s <= result.total_s
    assert result.to_json()["bound_s"] == pytest.approx(result.timing.bound_s)


def test_a_strided_one_by_one_convolution_needs_a_quarter_of_its_input():
    shape = LayerShape("conv", (56, 56), 256, (28, 28), 512, stride=(2, 2))
    assert covered(56, 28, 1, 2, 1, 0) == 28
    assert needed_input_bytes(shape) == 28 * 28 * 256


def test_the_terms_of_a_large_convolution():
    array = resolve_array("4x4")
    shape = LayerShape("conv", (14, 14), 256, (14, 14), 256, kernel=(3, 3), pad=(1, 1, 1, 1))
    bound = layer_bound(shape, array)
    weights = 256 * 9 * 256
    assert bound.terms["DDR"] == pytest.approx(weights / (4 * 4e9))
    assert bound.terms["compute"] == pytest.approx(14 * 14 * 256 * 9 * 256 / (16 * 256e9))
    assert bound.bound_by == "DDR"
    assert bound.seconds == pytest.approx(bound.terms["DDR"] + bound.terms["weights to cores"]
                                          + bound.terms["compute"])
    half = LayerShape("conv", (14, 14), 256, (14, 14), 256, kernel=(3, 3), pad=(1, 1, 1, 1),
                      block_mask=BlockMask.leading((16,) * 32, 32))
    assert layer_bound(half, array).terms["DDR"] == pytest.approx(bound.terms["DDR"] / 2)


def test_the_busiest_core_pays_for_weights_and_input_by_hand():
    # ResNet50 layer3.x.conv1 on 4x4: 196 positions x 256 channels over 16 cores, so one
    # core computes p positions x c channels with p x c >= 3136. It receives c x 1024
    # weight bytes and p x 1024 input bytes: the sum is least, 2 x 56 x 1024 bytes, at
    # p = c = 56 (its 12.5 us of MACs hide under the input stream there).
    shape = LayerShape("conv", (14, 14), 1024, (14, 14), 256)
    array = resolve_array("4x4")
    assert busiest_core_s(shape, array) == pytest.approx(2 * 56 * 1024 / 4e9)
    bound = layer_bound(shape, array)
    assert bound.bound_by == "weights and input to the busiest core"
    assert bound.seconds == pytest.approx(bound.terms["DDR"] + 2 * 56 * 1024 / 4e9)
    # a depthwise convolution's cores need only their own channels: no such term
    depthwise = LayerShape("conv", (14, 14), 256, (14, 14), 256, kernel=(3, 3),
                           pad=(1,) * 4, groups=256)
    assert busiest_core_s(depthwise, array) == 0.0
