"""Block masks on a Keras 3 model (paper section 3.1).

:func:`mask_model` clones a model, replacing every ``Conv2D`` by a
:class:`MaskedConv2D`: the same convolution carrying a non-trainable Gamma (expanded to
the kernel's shape) and computing with ``Gamma * kernel``; gradients follow from the
forward definition. Gamma is chosen by :class:`bsir.sparsity.SparsityPlan`, the scoring
``tg-sparsify`` uses, on the kernel seen as ``COUT x KH x KW x CIN``. Unless told
otherwise the Keras backend is PyTorch (``KERAS_BACKEND=torch``).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

from bsir import sparsity
from bsir.sparsity import SparsityPlan
from bsir.train.masking import LayerMask


@keras.saving.register_keras_serializable(package="bsir")
class MaskedConv2D(keras.layers.Conv2D):
    """A ``Conv2D`` whose kernel is multiplied by a fixed, non-trainable mask."""

    def build(self, input_shape) -> None:
        super().build(input_shape)
        self.gamma = self.add_weight(name="gamma", shape=tuple(self.kernel.shape),
                                     initializer="ones", trainable=False)

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, kernel * self.gamma)

    def save_own_variables(self, store) -> None:
        super().save_own_variables(store)
        if self.built:
            store["gamma"] = self.gamma

    def load_own_variables(self, store) -> None:
        if not self.built:
            return
        variables = [self.kernel, self.bias] if self.use_bias else [self.kernel]
        for index, variable in enumerate(variables):
            variable.assign(store[str(index)])
        self.gamma.assign(store["gamma"])

    def set_mask(self, mask: LayerMask) -> None:
        """Use Gamma ``mask`` from now on; the dropped kernel entries are zeroed."""
        element = sparsity.expand_mask(mask.gamma, mask.block, bsir_layout(self).shape)
        element = np.broadcast_to(element.transpose(1, 2, 3, 0),
                                  tuple(self.kernel.shape)).astype("float32")
        self.gamma.assign(element)
        self.kernel.assign(numpy_of(self.kernel) * element)


def numpy_of(variable) -> np.ndarray:
    """A Keras variable's value as a numpy array (``keras.ops.convert_to_numpy`` calls
    ``np.array(tensor)``, which numpy 2 deprecates for PyTorch tensors)."""
    value = variable.value if isinstance(variable, keras.Variable) else variable
    if keras.backend.backend() == "torch":
        return value.detach().cpu().numpy()
    return np.asarray(keras.ops.convert_to_numpy(value))


def bsir_layout(layer: keras.layers.Conv2D, weight=None) -> np.ndarray:
    """A Keras kernel ``[KH, KW, CIN, COUT]`` in bsir's layout ``[COUT, KH, KW, CIN]``."""
    array = numpy_of(layer.kernel if weight is None else weight)
    return np.asarray(array, dtype=np.float64).transpose(3, 0, 1, 2)


def _clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    if type(layer) is keras.layers.Conv2D:
        return MaskedConv2D.from_config(layer.get_config())
    return layer.__class__.from_config(layer.get_config())


def mask_model(model: keras.Model, plan: SparsityPlan) -> tuple[keras.Model,
                                                                 dict[str, LayerMask]]:
    """A copy of ``model`` whose convolutions carry Gamma, chosen by ``plan`` on the
    model's current kernels; returns the copy and Gamma by layer name."""
    clone = keras.models.clone_model(model, clone_function=_clone_layer)
    clone.set_weights(_weights_with_gammas(model, clone))
    masks: dict[str, LayerMask] = {}
    first_conv = True
    for layer in clone.layers:
        if not isinstance(layer, MaskedConv2D):
            continue
        ratio = plan.ratio_for(layer.name, first_conv)
        first_conv = False
        if ratio == 0.0:
            continue
        mask = LayerMask(plan.block, plan.mask(bsir_layout(layer), ratio))
        layer.set_mask(mask)
        masks[layer.name] = mask
    return clone, masks


def _weights_with_gammas(model: keras.Model, clone: keras.Model) -> list[np.ndarray]:
    """The original weights in the clone's order, an all-ones Gamma after each kernel."""
    weights: list[np.ndarray] = []
    for original, copy in zip(model.layers, clone.layers, strict=True):
        values = [numpy_of(v) for v in original.weights]
        if isinstance(copy, MaskedConv2D) and not isinstance(original, MaskedConv2D):
            values = [*values, np.ones_like(values[0])]
        weights.extend(values)
    return weights


def dropped_weights(layer: MaskedConv2D) -> np.ndarray:
    """The kernel entries Gamma drops (they must stay exactly zero)."""
    return numpy_of(layer.kernel)[numpy_of(layer.gamma) == 0]
