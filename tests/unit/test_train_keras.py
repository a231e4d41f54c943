"""Keras 3 (PyTorch backend): a clone whose convolutions carry a non-trainable Gamma."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")

from bsir import sparsity  # noqa: E402
from bsir.sparsity import SparsityPlan  # noqa: E402
from bsir.train.keras import (  # noqa: E402
    MaskedConv2D,
    bsir_layout,
    dropped_weights,
    mask_model,
    numpy_of,
)

# Keras's PyTorch backend calls np.array(tensor) in predict/fit/save, which numpy 2
# deprecates for torch tensors; that is Keras's to fix, not bsir's code.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def digits_like(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.standard_normal((n, 8, 8, 1)).astype("float32")
    x[np.arange(n), y % 8, y // 8 * 3, 0] += 3.0
    return x, y


def small_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="c0"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="c1"),
        keras.layers.Conv2D(32, 1, name="c2"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, name="fc"),
    ])


def compiled(model):
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_the_clone_carries_the_compilers_masks_and_computes_like_the_original():
    model = small_model()
    x, _ = digits_like()
    clone, masks = mask_model(model, SparsityPlan((8, 8), 0.0))
    assert [type(layer).__name__ for layer in clone.layers] == \
        ["MaskedConv2D", "MaskedConv2D", "MaskedConv2D", "GlobalAveragePooling2D", "Dense"]
    assert masks == {}
    assert np.allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    plan = SparsityPlan((8, 8), 0.5, "l1", skip_first=True)
    clone, masks = mask_model(model, plan)
    assert set(masks) == {"c1", "c2"}
    for name, mask in masks.items():
        original = model.get_layer(name)
        expected = sparsity.block_mask(bsir_layout(original), (8, 8), 0.5, "l1")
        assert np.array_equal(mask.gamma, expected)
        layer = clone.get_layer(name)
        assert [w.name for w in layer.non_trainable_weights] == ["gamma"]
        assert len(layer.trainable_weights) == 2


def test_dropped_kernel_entries_stay_zero_through_fit():
    clone, masks = mask_model(small_model(), SparsityPlan((8, 8), 0.5, skip_first=True))
    x, y = digits_like()
    before = numpy_of(clone.get_layer("c1").kernel).copy()
    compiled(clone).fit(x, y, epochs=2, batch_size=32, verbose=0)
    for name in masks:
        layer = clone.get_layer(name)
        values = dropped_weights(layer)
        assert values.size > 0 and np.count_nonzero(values) == 0
        assert float(np.mean(numpy_of(layer.gamma))) == 0.5
    assert not np.array_equal(before, numpy_of(clone.get_layer("c1").kernel))


def test_a_masked_model_saves_and_loads(tmp_path):
    clone, _ = mask_model(small_model(), SparsityPlan((8, 8), 0.5))
    x, _ = digits_like(8)
    path = tmp_path / "masked.keras"
    clone.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("c1"), MaskedConv2D)
    assert np.allclose(loaded.predict(x, verbose=0), clone.predict(x, verbose=0))
    assert np.array_equal(numpy_of(loaded.get_layer("c1").gamma),
                          numpy_of(clone.get_layer("c1").gamma))
