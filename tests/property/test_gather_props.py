"""A copy's index map (targets/aie2/geometry.Gather) is the transpose's or slice's own:
every output position, as the array holds it (H, W, C), reads the input element that
numpy's transpose or slice puts there, for tensors of any rank."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bsir.targets.aie2.geometry import Gather, hwc_of_shape

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=6).map(tuple)


def read(gather: Gather) -> np.ndarray:
    """The input elements the output reads, in the output's row-major order."""
    source = np.arange(int(np.prod(gather.source))).reshape(gather.source)
    h, w, c = hwc_of_shape(gather.target)
    hh, ww, cc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    rows, cols, channels = gather.input_positions(hh, ww, cc)
    _, sw, sc = hwc_of_shape(gather.source)
    return source.reshape(-1)[((rows * sw + cols) * sc + channels).reshape(-1)]


@given(shapes, st.randoms(use_true_random=False))
def test_a_transpose_reads_what_numpy_transposes(shape, random):
    perm = list(range(len(shape)))
    random.shuffle(perm)
    expected = np.arange(int(np.prod(shape))).reshape(shape).transpose(perm)
    assert (read(Gather(shape, expected.shape, perm=tuple(perm))) == expected.ravel()).all()


@given(shapes, st.data())
def test_a_slice_reads_what_numpy_slices(shape, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    start = data.draw(st.integers(0, shape[axis] - 1))
    stop = data.draw(st.integers(start + 1, shape[axis]))
    step = data.draw(st.integers(1, 3))
    index = [slice(None)] * len(shape)
    index[axis] = slice(start, stop, step)
    expected = np.arange(int(np.prod(shape))).reshape(shape)[tuple(index)]
    gather = Gather(shape, expected.shape, slice=(axis, start, step))
    assert (read(gather) == expected.ravel()).all()
