"""Block-sparse training with PyTorch: masks by the compiler's scoring, exact zeros
through training, one-shot / incremental densities, checkpoint resume, DDP on two
processes, and a trained model through ONNX into ``bsir compile --verify``."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")

from torch.utils.data import TensorDataset  # noqa: E402
from train_models import small_cnn  # noqa: E402

from bsir import sparsity  # noqa: E402
from bsir.diagnostics import BsirError  # noqa: E402
from bsir.dialects import tg  # noqa: E402
from bsir.dialects.tg import only_graph  # noqa: E402
from bsir.driver.compile import CompileOptions, compile_module  # noqa: E402
from bsir.driver.verify import verify_compiled  # noqa: E402
from bsir.executor import random_inputs  # noqa: E402
from bsir.onnx_import import SparsitySource, import_onnx, read_masks  # noqa: E402
from bsir.passes.tg_sparsify import TgSparsifyPass  # noqa: E402
from bsir.sparsity import SparsityPlan  # noqa: E402
from bsir.tools import bsir_cli  # noqa: E402
from bsir.train import (  # noqa: E402
    TrainConfig,
    Trainer,
    apply_masks,
    choose_masks,
    export_onnx,
    masks_of,
    masks_path,
)
from bsir.train.masking import bsir_layout  # noqa: E402

HERE = Path(__file__).parent


def tiny_data(n_per_class=8, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(10), n_per_class)
    x = rng.standard_normal((len(y), 1, 8, 8)).astype(np.float32)
    x[np.arange(len(y)), 0, y % 8, y // 8 * 3] += 3.0  # a learnable cue
    return TensorDataset(torch.tensor(x), torch.tensor(y))


def quiet(**kwargs):
    return TrainConfig(progress=False, **kwargs)


def dropped(module):
    """(effective, stored) weights where Gamma drops."""
    element = module.parametrizations.weight[0].element_mask == 0
    return module.weight[element], module.parametrizations.weight.original[element]


@pytest.mark.parametrize("optimizer,decay", [("sgd", 1e-3), ("adam", 1e-2)])
def test_dropped_weights_stay_exactly_zero_through_training(optimizer, decay):
    torch.manual_seed(0)
    model = small_cnn()
    plan = SparsityPlan((8, 8), 0.5, linear=True)
    apply_masks(model, choose_masks(model, plan))
    masked = [m for m in model.modules() if hasattr(m, "parametrizations")]
    assert len(masked) == 3
    config = quiet(epochs=3, batch_size=8, lr=0.05, optimizer=optimizer, weight_decay=decay)
    before = [m.parametrizations.weight.original.detach().clone() for m in masked]
    Trainer(model, tiny_data(), config).run()
    for module, start in zip(masked, before, strict=True):
        effective, stored = dropped(module)
        assert effective.numel() > 0
        assert torch.count_nonzero(effective) == 0 and torch.count_nonzero(stored) == 0
        assert not torch.equal(module.parametrizations.weight.original, start)  # it trained


def test_masks_are_the_compilers_choice_on_the_same_weights(tmp_path):
    """Gamma from bsir.train equals tg-sparsify's on the exported, imported model."""
    torch.manual_seed(1)
    model = small_cnn()
    plan = SparsityPlan((8, 4), 0.5, "l1", skip_first=True, linear=True)
    chosen = choose_masks(model, plan)
    assert set(chosen) == {"2", "6"}  # the first convolution stays dense
    for name, mask in chosen.items():
        weight = bsir_layout(dict(model.named_modules())[name].weight)
        assert np.array_equal(mask.gamma, sparsity.block_mask(weight, (8, 4), 0.5, "l1"))
    export_onnx(model, torch.zeros(1, 1, 8, 8), tmp_path / "dense.onnx")
    module, arrays = import_onnx(str(tmp_path / "dense.onnx"), SparsitySource(detect=False))
    np.savez(tmp_path / "dense.npz", **arrays)
    module.attributes["tg.weights"] = module.attributes["tg.weights"].__class__(
        str(tmp_path / "dense.npz"))
    TgSparsifyPass(block=(8, 4), ratio=0.5, criterion="l1", skip_first=True, linear=True,
                   report=False).apply(None, module)
    graph = only_graph(module)
    got = {op.weight.owner.key.data: op.sparsity.mask_array() for op in graph.block.ops
           if isinstance(op, tg.WEIGHTED_OPS) and op.sparsity is not None}
    assert {k: v.tolist() for k, v in got.items()} == \
        {f"{name}.weight": mask.gamma.tolist() for name, mask in chosen.items()}


def layer_densities(model):
    return {name: float(mask.gamma.mean()) for name, mask in masks_of(model).items()}


@pytest.mark.parametrize("mode", ["one-shot", "incremental"])
def test_each_mode_reaches_the_requested_density(mode):
    torch.manual_seed(2)
    model = small_cnn()
    plan = SparsityPlan((8, 8), 0.5, linear=True, overrides=(("6", 0.75),))
    history = Trainer(model, tiny_data(), quiet(epochs=1, batch_size=16),
                      tiny_data(seed=1)).run(plan, mode)
    # blocks: conv0 2x1, conv2 4x2, linear 2x4 -> zero 1, 4 and 6 of them
    assert layer_densities(model) == {"0": 0.5, "2": 0.5, "6": 0.25}
    stages = {r.stage for r in history.records}
    assert stages == ({0} if mode == "one-shot" else {0, 1, 2})
    assert all(r.accuracy is not None for r in history.records)
    if mode == "incremental":  # one more layer masked per stage
        densities = [history.after_masking(s).density for s in sorted(stages)]
        assert densities[0] > densities[-1]


def test_incremental_masks_are_chosen_on_fine_tuned_weights():
    torch.manual_seed(3)
    model = small_cnn()
    plan = SparsityPlan((8, 8), 0.5, linear=True)
    upfront = choose_masks(model, plan)
    Trainer(model, tiny_data(), quiet(epochs=2, batch_size=8, lr=0.05)).run(plan,
                                                                           "incremental")
    later = masks_of(model)
    assert np.array_equal(later["0"].gamma, upfront["0"].gamma)  # chosen before training
    assert not all(np.array_equal(later[n].gamma, upfront[n].gamma) for n in ("2", "6"))


def test_resuming_from_a_checkpoint_continues_exactly(tmp_path):
    plan = SparsityPlan((8, 8), 0.5, linear=True)

    def train(epochs, resume, directory):
        torch.manual_seed(4)
        model = small_cnn()
        config = quiet(epochs=epochs, batch_size=8, checkpoint_dir=str(directory),
                       resume=resume)
        return model, Trainer(model, tiny_data(), config).run(plan, "incremental")

    straight, _ = train(2, False, tmp_path / "a")
    partial = tmp_path / "b"  # a run interrupted after stage 1's first epoch
    torch.manual_seed(4)
    trainer = Trainer(small_cnn(), tiny_data(), quiet(epochs=2, batch_size=8,
                                                      checkpoint_dir=str(partial)))
    original_save = trainer.save

    def save_then_stop(stage, epoch, optimizer):
        original_save(stage, epoch, optimizer)
        if (stage, epoch) == (1, 1):
            raise KeyboardInterrupt

    trainer.save = save_then_stop
    with pytest.raises(KeyboardInterrupt):
        trainer.run(plan, "incremental")
    resumed, history = train(2, True, partial)
    assert [(r.stage, r.epoch) for r in history.records] == \
        [(s, e) for s in range(3) for e in range(3)]
    for (key, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(),
                                strict=True):
        assert torch.equal(a, b), key


def run_reporting(command: list[str], env: dict[str, str]) -> None:
    """Run a command; on failure, fail with the end of what it printed."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode:
        pytest.fail(f"exit {done.returncode}: {' '.join(command[:4])} ...\n"
                    f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}", pytrace=False)


def test_two_processes_train_like_one_with_twice_the_batch(tmp_path):
    """torchrun, gloo, 2 CPU processes with batch 8 = one process with batch 16."""
    x = tiny_data().tensors
    np.savez(tmp_path / "tiny.npz", x=x[0].numpy(), y=x[1].numpy())
    common = ["train", "--model", "train_models:small_cnn", "--data",
              str(tmp_path / "tiny.npz"), "--epochs", "2", "--optimizer", "sgd", "--lr",
              "0.05", "--no-progress", "--sparsity", "0.5"]
    # Loopback only: the rendezvous store, the workers' master address and gloo's sockets
    # would otherwise go through the machine's host name, which a sandbox may not resolve.
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    run_reporting([sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--local-addr=127.0.0.1", "--nproc_per_node=2", "-m", "bsir.tools.bsir_cli",
                   *common, "--batch-size", "8", "-o", str(tmp_path / "ddp.pt")], env)
    run_reporting([sys.executable, "-m", "bsir.tools.bsir_cli", *common, "--batch-size", "16",
                   "-o", str(tmp_path / "one.pt")], env)
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    one = torch.load(tmp_path / "one.pt", weights_only=True)
    assert ddp.keys() == one.keys()
    for key in one:
        assert torch.allclose(ddp[key], one[key], atol=1e-5), key
    assert float((one["2.weight"] == 0).float().mean()) == 0.5


def test_a_trained_model_goes_through_onnx_into_compile_verify(tmp_path):
    torch.manual_seed(5)
    model = small_cnn()
    plan = SparsityPlan((8, 8), 0.5, skip_first=True, linear=True)
    Trainer(model, tiny_data(), quiet(epochs=1, batch_size=16)).run(plan)
    path = tmp_path / "net.onnx"
    assert export_onnx(model, torch.zeros(1, 1, 8, 8), path) == masks_path(path)
    saved = read_masks(str(masks_path(path)))
    assert set(saved) == {"2.weight", "6.weight"}
    module, arrays = import_onnx(str(path))  # the masks beside the model
    sparse = {op.weight.owner.key.data: op.sparsity.mask_array()
              for op in only_graph(module).block.ops
              if isinstance(op, tg.WEIGHTED_OPS) and op.sparsity is not None}
    assert {k: v.tolist() for k, v in sparse.items()} == \
        {k: gamma.tolist() for k, (_, gamma) in saved.items()}
    detected, _ = import_onnx(str(path), SparsitySource())  # no masks: the zero blocks
    assert [op.sparsity for op in only_graph(detected).block.ops
            if isinstance(op, tg.WEIGHTED_OPS)] == \
        [op.sparsity for op in only_graph(module).block.ops if isinstance(op, tg.WEIGHTED_OPS)]
    x = random_inputs(module, 0, 1)[0]
    result = compile_module(module, arrays, "2x2", "shared",
                            CompileOptions(0.0, calibration=tuple(x)))  # no re-sparsifying
    assert result.failed is None
    # every masked layer is compacted to its kept blocks, or runs with its zeros where
    # the mapper found that faster
    layers = [op for op in result.module.walk() if hasattr(op, "keeps_zeros")]
    kept = [op.compaction.get("kept_blocks") for op in layers if op.compaction is not None]
    zeros = [op for op in layers if op.keeps_zeros is not None]
    sums = [int(g.sum()) for _, g in saved.values()]
    assert len(kept) + len(zeros) == len(sums) and all(k in sums for k in kept)
    report = verify_compiled(result.module, result.weights, x)
    assert report.layers > 0


def test_import_refuses_masks_the_weights_do_not_respect(tmp_path):
    torch.manual_seed(6)
    model = small_cnn()
    apply_masks(model, choose_masks(model, SparsityPlan((8, 8), 0.5)))
    path = tmp_path / "net.onnx"
    export_onnx(model, torch.zeros(1, 1, 8, 8), path)
    masks = dict(np.load(masks_path(path)))
    masks["2.weight:gamma"] = ~masks["2.weight:gamma"]
    np.savez(masks_path(path), **masks)
    with pytest.raises(BsirError, match="non-zero in blocks its mask drops"):
        import_onnx(str(path))
    masks["9.weight:gamma"] = masks.pop("2.weight:gamma")
    masks["9.weight:block"] = masks.pop("2.weight:block")
    np.savez(masks_path(path), **masks)
    with pytest.raises(BsirError, match=r"no Conv, Gemm or MatMul uses: 9\.weight"):
        import_onnx(str(path))


@pytest.mark.parametrize("argv,message", [
    (["--model", "nope"], "unknown model 'nope'"),
    (["--model", "no_such_module:f"], "cannot load model"),
    (["--block", "8by8"], "a block is ROWSxCOLS"),
    (["--criterion", "l3"], "unknown criterion 'l3'"),
    (["--mode", "twice"], "unknown mode 'twice'"),
    (["--data", "missing.npz"], "no such file: missing.npz"),
    (["--resume"], "--resume needs --checkpoint-dir"),
])
def test_train_command_errors_are_one_line(argv, message, capsys):
    assert bsir_cli.main(["train", "--epochs", "0", "--no-progress", *argv]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_train_command_fine_tunes_and_exports(tmp_path, capsys):
    argv = ["train", "--epochs", "1", "--pretrain-epochs", "1", "--skip-first",
            "--no-progress", "--checkpoint-dir", str(tmp_path / "ck"), "-o",
            str(tmp_path / "w.pt"), "--onnx", str(tmp_path / "d.onnx")]
    assert bsir_cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "density" in out and "wrote" in out
    assert (tmp_path / "ck" / "last.pt").exists() and (tmp_path / "d.masks.npz").exists()
    weights = torch.load(tmp_path / "w.pt", weights_only=True)
    assert float((weights["3.weight"] == 0).float().mean()) == 0.5
    assert bsir_cli.main(["import", str(tmp_path / "d.onnx"), "-o",
                          str(tmp_path / "d.mlir")]) == 0
    assert "tg.sparsity" in (tmp_path / "d.mlir").read_text() or \
        "sparsity = #tg.sparsity" in (tmp_path / "d.mlir").read_text()
