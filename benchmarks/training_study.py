"""Accuracy of block-sparse fine-tuning on a real dataset, offline (paper Table 1 pattern).

scikit-learn's handwritten digits (1,797 8x8 images, 10 classes, a fixed stratified 75/25
split), a small CNN (``bsir.train.models.digits_cnn``: three 3x3 convolutions, batch
norm, max pool, global average pool, linear). Per seed: train dense (the baseline,
measured in the same run); then, from the dense weights, for 8x8 and 1x1 blocks at 25 /
50 / 75 % and each criterion (l1, l2, variance), choose Gamma on the convolutions but the
first (as the paper), measure the accuracy right after masking and after one-shot
fine-tuning; plus 8x8 at 50 % (l2) fine-tuned incrementally, one layer at a time. The
*control* fine-tunes the dense network by the same schedule without a mask, so a drop is
what the mask costs, not what the extra epochs gain.

    python benchmarks/training_study.py [--seeds 3] [--out benchmarks/results]
                                        [--model digits-cnn | digits-vit]

With ``--model digits-vit`` the network is a small vision transformer
(``bsir.train.models.DigitsViT``: 2x2 patches by a strided convolution, two encoder blocks
of 4-head self-attention and a GELU MLP, 32 features) and Gamma is chosen on every linear
layer (query, key, value, output, the MLP's, the classifier) but the patch embedding;
the products of attention have no weights and stay dense.

Writes ``training_study.csv`` (``training_study_vit.csv`` for the ViT; one row per seed
and configuration) and ``training_study.png`` (accuracy after fine-tuning against
sparsity, mean and spread), and prints the summary table (mean +- standard deviation
over the seeds).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe

from bsir.sparsity import SparsityPlan
from bsir.train import TrainConfig, Trainer
from bsir.train.data import digits
from bsir.train.models import BUILTIN

BLOCKS = ((8, 8), (1, 1))
RATIOS = (0.25, 0.5, 0.75)
CRITERIA = ("l1", "l2", "variance")
FIELDS = ("seed", "block", "ratio", "criterion", "mode", "dense", "dense_fine_tuned",
          "masked", "fine_tuned", "density")


def configurations() -> list[tuple[tuple[int, int], float, str, str]]:
    rows = [(block, ratio, criterion, "one-shot")
            for block in BLOCKS for ratio in RATIOS for criterion in CRITERIA]
    return [*rows, ((8, 8), 0.5, "l2", "incremental")]


MASKS_LINEAR = {"digits-cnn": False, "digits-vit": True}
"""Whether Gamma covers the linear layers: the CNN's convolutions as the paper; every
weight of the transformer but its patch embedding."""


def run_seed(seed: int, dense_epochs: int, fine_epochs: int, net: str = "digits-cnn"
             ) -> list[dict]:
    train_set, val_set = digits(seed=0)  # one split; the seed varies the training
    torch.manual_seed(seed)
    model = BUILTIN[net]()
    dense = Trainer(model, train_set, TrainConfig(dense_epochs, seed=seed, progress=False),
                    val_set).run(None)
    baseline = dense.final.accuracy
    state = {k: v.clone() for k, v in model.state_dict().items()}
    control = fine_tune(state, None, "one-shot", train_set, val_set, seed, fine_epochs, net)
    rows = []
    for block, ratio, criterion, mode in configurations():
        plan = SparsityPlan(block, ratio, criterion, skip_first=True, linear=MASKS_LINEAR[net])
        history = fine_tune(state, plan, mode, train_set, val_set, seed, fine_epochs, net)
        rows.append({"seed": seed, "block": f"{block[0]}x{block[1]}", "ratio": ratio,
                     "criterion": criterion, "mode": mode, "dense": baseline,
                     "dense_fine_tuned": control.final.accuracy,
                     "masked": history.after_masking(0).accuracy,
                     "fine_tuned": history.final.accuracy,
                     "density": history.final.density})
        print(f"  seed {seed} {rows[-1]['block']} {ratio:.2f} {criterion:8s} {mode:11s} "
              f"masked {rows[-1]['masked']:.4f} fine-tuned {rows[-1]['fine_tuned']:.4f}",
              file=sys.stderr)
    return rows


def fine_tune(state: dict, plan: SparsityPlan | None, mode: str, train_set, val_set,
              seed: int, epochs: int, net: str = "digits-cnn"):
    """From the dense weights: mask by ``plan`` (None: the dense control) and fine-tune
    (incremental: half the epochs per layer)."""
    model = BUILTIN[net]()
    model.load_state_dict(state)
    epochs = epochs if mode == "one-shot" else max(1, epochs // 2)
    config = TrainConfig(epochs, lr=5e-4, seed=seed, progress=False)
    return Trainer(model, train_set, config, val_set).run(plan, mode)


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):5.1f} ± {100 * sd:3.1f}"


def summary(rows: list[dict]) -> list[list[str]]:
    dense = list({r["seed"]: r["dense"] for r in rows}.values())  # one per seed
    control = list({r["seed"]: r["dense_fine_tuned"] for r in rows}.values())
    table = [["dense", "-", "-", "baseline", "-", mean_sd(dense), "-", "1.000"],
             ["dense", "-", "-", "control", "-", mean_sd(control), "0.0", "1.000"]]
    for block, ratio, criterion, mode in configurations():
        group = [r for r in rows if (r["block"], r["ratio"], r["criterion"], r["mode"]) ==
                 (f"{block[0]}x{block[1]}", ratio, criterion, mode)]
        drop = statistics.mean(r["dense_fine_tuned"] - r["fine_tuned"] for r in group)
        table.append([f"{block[0]}x{block[1]}", f"{100 * ratio:.0f} %", criterion, mode,
                      mean_sd([r["masked"] for r in group]),
                      mean_sd([r["fine_tuned"] for r in group]), f"{100 * drop:.1f}",
                      f"{statistics.mean(r['density'] for r in group):.3f}"])
    return table


def markdown(table: list[list[str]], masked: str = "convs") -> str:
    head = ["block", "sparsity", "criterion", "mode", "acc. after masking (%)",
            "acc. after fine-tuning (%)", "drop vs control (points)",
            f"density of masked {masked}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, title: str = "digits CNN") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, panels = plt.subplots(1, 2, figsize=(11, 4.5))
    control = statistics.mean(r["dense_fine_tuned"] for r in rows) * 100
    colors = {"8x8": "tab:red", "1x1": "tab:blue"}
    markers = {"l1": "o", "l2": "s", "variance": "^"}
    name = title
    for axes, key, title in ((panels[0], "fine_tuned", "after fine-tuning"),
                             (panels[1], "masked", "right after masking")):
        axes.axhline(control, color="black", linestyle=":",
                     label=f"dense, same fine-tuning ({control:.1f} %)")
        for block, color in colors.items():
            for criterion, marker in markers.items():
                means, sds = [], []
                for ratio in RATIOS:
                    values = [100 * r[key] for r in rows if r["block"] == block and
                              r["ratio"] == ratio and r["criterion"] == criterion and
                              r["mode"] == "one-shot"]
                    means.append(statistics.mean(values))
                    sds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
                axes.errorbar([100 * r for r in RATIOS], means, yerr=sds, color=color,
                              marker=marker, capsize=3, label=f"{block} {criterion}")
        axes.set_title(f"{name}, {title}")
        axes.set_xlabel("blocks zeroed (%)")
        axes.set_ylabel("validation accuracy (%)")
        axes.set_xticks([100 * r for r in RATIOS])
    panels[0].legend(fontsize=8, ncol=2, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def read_rows(path: Path) -> list[dict]:
    """The rows of a previous run's CSV, typed as :func:`run_seed` makes them."""
    with open(path, encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        row["seed"] = int(row["seed"])
        for key in ("ratio", "dense", "dense_fine_tuned", "masked", "fine_tuned", "density"):
            row[key] = float(row[key])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--dense-epochs", type=int, default=30)
    parser.add_argument("--fine-epochs", type=int, default=8)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--replot", action="store_true",
                        help="redraw the table and plot from the CSV in --out")
    parser.add_argument("--model", choices=sorted(MASKS_LINEAR), default="digits-cnn")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "training_study" if args.model == "digits-cnn" else "training_study_vit"
    title = "digits CNN" if args.model == "digits-cnn" else "digits ViT"
    masked = "linear layers" if MASKS_LINEAR[args.model] else "convs"
    if args.replot:
        rows = read_rows(out / f"{stem}.csv")
        plot(rows, out / f"{stem}.png", title)
        print(markdown(summary(rows), masked))
        return 0
    start = time.perf_counter()
    rows = [row for seed in range(args.seeds)
            for row in run_seed(seed, args.dense_epochs, args.fine_epochs, args.model)]
    elapsed = time.perf_counter() - start
    with open(out / f"{stem}.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, out / f"{stem}.png", title)
    print(f"machine: {describe()}, torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads")
    print(f"{title}, {args.seeds} seeds, dense {args.dense_epochs} epochs, fine-tuning "
          f"{args.fine_epochs} epochs (incremental: {max(1, args.fine_epochs // 2)} per "
          f"layer); {elapsed:.0f} s\n")
    print(markdown(summary(rows), masked))
    print(f"\nwrote {out / f'{stem}.csv'} and {out / f'{stem}.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
