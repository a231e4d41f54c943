"""The lower bound per layer: never above the estimate, and what binds it makes sense."""

import pytest

import bsir
from bsir.targets.aie2.bound import (
    average_core_s,
    busiest_core_s,
    covered,
    layer_bound,
    needed_input_bytes,
    owned_input,
)
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


def test_the_averaged_cores_charge_the_kept_weights_not_the_sparsest_channel():
    # InceptionV3's 17x17 1x7 layer, 160 -> 160, on 8x8: one block row keeps a single
    # block, the others all of theirs. The busiest core may hold that sparse channel,
    # but averaged over the cores (weighted by their positions) the kept weights W are
    # all paid: P W / S weights and S / N positions' input each, least at
    # S = sqrt(P W N / rho) -- 2 x sqrt(P W rho / N) bytes.
    counts = [1] + [20] * 19
    shape = LayerShape("conv", (17, 17), 160, (17, 17), 160, kernel=(1, 7),
                       pad=(0, 3, 0, 3), block_mask=BlockMask.leading(counts, 20))
    array = resolve_array("8x8")
    weights, rho = sum(counts) * 8 * 7 * 8, 160     # a 1x7 window owns one element
    expected = 2 * (289 * weights * rho / 64) ** 0.5 / 4e9
    assert average_core_s(shape, array) == pytest.approx(expected)
    assert average_core_s(shape, array) > busiest_core_s(shape, array)
    assert layer_bound(shape, array).seconds >= layer_bound(shape, array).terms["DDR"] \
        + expected


def test_an_output_owns_the_part_of_its_window_inside_the_input():
    # a 'same' 1x7 convolution: every output owns the input element under its centre,
    # none in the padding, so every position counts
    shape = LayerShape("conv", (17, 17), 160, (17, 17), 160, kernel=(1, 7), pad=(0, 3, 0, 3))
    assert owned_input(shape) == (160, 0)
    # a strided 3x3 owns 2x2 of its window; with padding 1 every output keeps its 2x2 in
    assert owned_input(LayerShape("conv", (14, 14), 8, (7, 7), 8, kernel=(3, 3),
                                   stride=(2, 2), pad=(1,) * 4)) == (32, 0)
