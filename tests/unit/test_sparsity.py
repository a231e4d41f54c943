"""Block scoring by hand, mask selection, and the compaction format."""

import numpy as np
import pytest

from bsir import sparsity
from bsir.compaction import pack, unpack


def test_scores_by_hand():
    w = np.zeros((4, 1, 1, 4), np.float32)
    w[:2, 0, 0, :2] = [[1, -1], [1, -1]]      # block (0,0): l1 4, l2 2, var 1
    w[2:, 0, 0, 2:] = [[3, 3], [3, 3]]        # block (1,1): l1 12, l2 6, var 0
    w[:2, 0, 0, 2:] = [[0.5, 0.5], [0.5, -0.5]]
    assert sparsity.block_scores(w, (2, 2), "l1").tolist() == [[4, 2], [0, 12]]
    assert sparsity.block_scores(w, (2, 2), "l2").tolist() == [[2, 1], [0, 6]]
    var = sparsity.block_scores(w, (2, 2), "variance")
    assert var[0, 0] == pytest.approx(1.0) and var[1, 1] == pytest.approx(0.0)
    assert var[0, 1] == pytest.approx(0.1875)
    mean = w.mean()
    glob = sparsity.block_scores(w, (2, 2), "variance-global")
    assert glob[1, 1] == pytest.approx((3 - mean) ** 2)


def test_kernel_window_is_part_of_the_block():
    w = np.zeros((2, 3, 3, 2), np.float32)
    w[0, 2, 1, 1] = -5.0
    assert sparsity.block_scores(w, (1, 1), "l1").tolist() == [[0, 5], [0, 0]]


def test_partial_edge_blocks_are_scaled_to_a_full_block():
    w = np.ones((3, 1, 1, 3), np.float32)  # 2x2 blocks: full, 2-wide, 2-high, single
    assert np.allclose(sparsity.block_scores(w, (2, 2), "l1"), 4.0)
    assert np.allclose(sparsity.block_scores(w, (2, 2), "l2"), 2.0)


@pytest.mark.parametrize("blocks, ratio, zero", [
    (1, 0.5, 0), (2, 0.5, 1), (3, 0.5, 1), (5, 0.5, 2), (7, 0.25, 2), (8, 0.75, 6),
    (4, 1.0, 4), (4, 0.0, 0), (1, 0.75, 1),
])
def test_zero_count_rounds_to_nearest_ties_dense(blocks, ratio, zero):
    assert sparsity.zero_count(blocks, ratio) == zero


def test_select_mask_zeroes_lowest_and_balanced_rows():
    scores = np.array([[5.0, 1.0, 3.0, 2.0], [9.0, 8.0, 0.5, 6.0]])
    mask = sparsity.select_mask(scores, 0.5)  # the four lowest: 0.5, 1, 2, 3
    assert mask.tolist() == [[True, False, False, False], [True, True, False, True]]
    balanced = sparsity.select_mask(scores, 0.5, balanced=True)
    assert balanced.tolist() == [[True, False, True, False], [True, True, False, False]]
    assert (balanced.sum(axis=1) == 2).all()


def test_ties_are_broken_by_position():
    mask = sparsity.select_mask(np.ones((2, 2)), 0.5)
    assert mask.tolist() == [[False, False], [True, True]]


def test_apply_mask_and_recover_it():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((17, 3, 3, 9)).astype(np.float32)
    mask = sparsity.block_mask(w, (8, 4), 0.5, "l1")
    zeroed = sparsity.apply_mask(w, mask, (8, 4))
    assert np.array_equal(sparsity.mask_of_zero_blocks(zeroed, (8, 4)), mask)
    kept = sparsity.expand_mask(mask, (8, 4), w.shape)
    assert np.array_equal(zeroed[np.broadcast_to(kept, w.shape)],
                          w[np.broadcast_to(kept, w.shape)])


def test_pack_layout_and_sizes():
    w = np.arange(4 * 4, dtype=np.float32).reshape(4, 1, 1, 4) + 1
    mask = np.array([[True, False], [True, True]])
    packed = pack(w, mask, (2, 2))
    assert packed.row_ptr.tolist() == [0, 1, 3] and packed.col_idx.tolist() == [0, 0, 1]
    assert packed.blocks.shape == (3, 2, 1, 2)
    assert packed.blocks[0, :, 0, :].tolist() == [[1, 2], [5, 6]]
    assert packed.payload_bytes == 3 * 4 * 4 and packed.density == 0.75
    assert np.array_equal(packed.mask(), mask)
    assert np.array_equal(unpack(packed), sparsity.apply_mask(w, mask, (2, 2)))


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown criterion"):
        sparsity.block_scores(np.ones((2, 2)), (1, 1), "l3")
    with pytest.raises(ValueError, match="ratio is in"):
        sparsity.zero_count(3, 1.5)
    with pytest.raises(ValueError, match="does not match"):
        pack(np.ones((4, 4)), np.ones((1, 1), bool), (2, 2))
