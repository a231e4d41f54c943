"""Top-1 accuracy of bsir's INT8 programs against float, on a real dataset, offline.

scikit-learn's handwritten digits (the fixed 75/25 split of ``bsir.train.data.digits``)
and the two networks of the training study: ``digits-cnn`` (convolutions, batch norm,
pooling) and ``digits-vit`` (a small vision transformer: layer norms, attention's
softmax and products of activations, GELU). Per network and seed: train dense, then
fine-tune with 8x8 blocks at 50 % (l2, one shot: the convolutions but the first for the
CNN, every linear layer but the patch embedding for the ViT); export each to ONNX,
import it into bsir, fold batch norms and quantize (``tg-quantize``, method ``mse``,
calibrated on ``--calibration`` training images), and run bsir's reference executor
on every validation image in float and in INT8.

    python benchmarks/int8_accuracy.py [--seeds 2] [--dense-epochs 30] [--fine-epochs 8]

Prints, per network and weights (mean over the seeds): PyTorch's accuracy, bsir's float
and INT8 accuracy, and how often INT8 picks the float program's class. The float
program is the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe
from xdsl.passes import PassPipeline

from bsir.driver.pipeline import apply_pipeline
from bsir.executor import Executor
from bsir.ir import make_context
from bsir.onnx_import import import_onnx
from bsir.passes.tg_fold_batchnorm import TgFoldBatchnormPass
from bsir.passes.tg_quantize import TgQuantizePass
from bsir.sparsity import SparsityPlan
from bsir.train import TrainConfig, Trainer
from bsir.train.data import digits
from bsir.train.export import export_onnx
from bsir.train.models import BUILTIN
from bsir.weights import current_weights, in_memory_weights

NETWORKS = {"digits-cnn": False, "digits-vit": True}
"""Each network and whether Gamma covers its linear layers (as the training study)."""


def nhwc(batch: torch.Tensor) -> np.ndarray:
    """PyTorch's N x C x H x W images as bsir's NHWC inputs."""
    return batch.numpy().transpose(0, 2, 3, 1).astype(np.float32)


def bsir_accuracy(onnx_path: str, calibration: np.ndarray, images: np.ndarray,
                  labels: np.ndarray) -> tuple[float, float, float]:
    """(float accuracy, INT8 accuracy, INT8 agreeing with float) of the imported model."""
    module, weights = import_onnx(onnx_path)
    float_run = Executor(module, weights)
    float_classes = np.array([np.argmax(float_run.run([x[None]])[0]) for x in images])
    quantize = TgQuantizePass().calibrated_on([[x[None]] for x in calibration])
    with in_memory_weights(module, weights):
        apply_pipeline(PassPipeline((TgFoldBatchnormPass(), quantize)), make_context(), module)
        int8_weights = current_weights(module)
    int8_run = Executor(module, int8_weights)
    int8_classes = np.array([np.argmax(int8_run.run([x[None]])[0]) for x in images])
    return (float(np.mean(float_classes == labels)), float(np.mean(int8_classes == labels)),
            float(np.mean(int8_classes == float_classes)))


def run_seed(net: str, seed: int, args, folder: str) -> list[dict]:
    train_set, val_set = digits(seed=0)
    images, labels = nhwc(val_set.tensors[0]), val_set.tensors[1].numpy()
    calibration = nhwc(train_set.tensors[0][:args.calibration])
    torch.manual_seed(seed)
    model = BUILTIN[net]()
    rows = []
    for weights in ("dense", "8x8 50 %"):
        if weights == "dense":
            config = TrainConfig(args.dense_epochs, seed=seed, progress=False)
            history = Trainer(model, train_set, config, val_set).run(None)
        else:
            plan = SparsityPlan((8, 8), 0.5, "l2", skip_first=True, linear=NETWORKS[net])
            config = TrainConfig(args.fine_epochs, lr=5e-4, seed=seed, progress=False)
            history = Trainer(model, train_set, config, val_set).run(plan, "one-shot")
        path = os.path.join(folder, f"{net}-{seed}-{len(rows)}.onnx")
        model.eval()
        export_onnx(model, train_set.tensors[0][:1], path)
        start = time.perf_counter()
        floating, int8, agree = bsir_accuracy(path, calibration, images, labels)
        rows.append({"net": net, "weights": weights, "torch": history.final.accuracy,
                     "float": floating, "int8": int8, "agree": agree,
                     "seconds": time.perf_counter() - start})
        print(f"  {net} seed {seed} {weights}: torch {history.final.accuracy:.4f} "
              f"float {floating:.4f} int8 {int8:.4f} agree {agree:.4f}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--dense-epochs", type=int, default=30)
    parser.add_argument("--fine-epochs", type=int, default=8)
    parser.add_argument("--calibration", type=int, default=64,
                        help="training images tg-quantize calibrates on")
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=NETWORKS)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for net in args.networks:
            for seed in range(args.seeds):
                rows += run_seed(net, seed, args, folder)
    print(f"machine: {describe()}")
    print(f"digits validation set: {len(digits(seed=0)[1])} images; mean over {args.seeds} "
          f"seed(s); calibration: {args.calibration} training images\n")
    header = ("| network | weights | PyTorch | bsir float | bsir INT8 | INT8 = float "
              "| bsir s |")
    print(header)
    print("|---|---|---|---|---|---|---|")
    for net in args.networks:
        for weights in ("dense", "8x8 50 %"):
            group = [r for r in rows if (r["net"], r["weights"]) == (net, weights)]

            def mean(key: str, group=group) -> float:
                return statistics.mean(r[key] for r in group)

            print(f"| {net} | {weights} | {100 * mean('torch'):.1f} % | "
                  f"{100 * mean('float'):.1f} % | {100 * mean('int8'):.1f} % | "
                  f"{100 * mean('agree'):.1f} % | {mean('seconds'):.1f} |")


if __name__ == "__main__":
    main()
