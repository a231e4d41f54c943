"""``bsir train``: the common case of block-sparse fine-tuning from the command line.

Load a model (built-in or ``package.module:factory``, optionally its weights), train it
dense first if asked, choose Gamma, fine-tune one-shot or layer by layer, save the
weights, and export ONNX with the masks beside it. Under ``torchrun`` every process runs
the same command and DistributedDataParallel shares the batches.
"""

from __future__ import annotations

import argparse

from bsir.diagnostics import BsirError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bsir train``."""
    p.add_argument("--model", default="digits-cnn",
                   help="digits-cnn, digits-vit, or package.module:factory returning a "
                        "torch.nn.Module")
    p.add_argument("--weights", help="a state_dict (.pt) to start from")
    p.add_argument("--data", default="digits",
                   help="digits (scikit-learn, no download) or an .npz with arrays x and y")
    p.add_argument("--pretrain-epochs", type=int, default=0,
                   help="dense training before the masks are chosen")
    p.add_argument("--sparsity", type=float, default=0.5, help="fraction of blocks to zero")
    p.add_argument("--block", default="8x8", help="block over (COUT, CIN), e.g. 8x8, 16x4, 1x1")
    p.add_argument("--criterion", default="l2", help="l1, l2, variance or variance-global")
    p.add_argument("--skip-first", action="store_true", help="leave the first convolution dense")
    p.add_argument("--no-linear", action="store_true", help="leave linear layers dense")
    p.add_argument("--balanced", action="store_true",
                   help="the same number of kept blocks in every block row")
    p.add_argument("--overrides", default="", help='per-layer ratios: "layer4.*=0.75 fc=0"')
    p.add_argument("--mode", default="one-shot", help="one-shot or incremental")
    p.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs (per layer "
                                                          "when incremental)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", default="adam", help="adam or sgd")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-dir", help="write a checkpoint after every epoch here")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir")
    p.add_argument("-o", "--output", help="save the fine-tuned state_dict (.pt)")
    p.add_argument("--onnx", help="export the fine-tuned model to ONNX (+ .masks.npz)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Execute ``bsir train``."""
    try:
        import torch
    except ImportError:
        raise BsirError("bsir train needs PyTorch: pip install 'bsir[train]'") from None
    from bsir.sparsity import SparsityPlan, parse_block, parse_overrides
    from bsir.train.data import load_dataset
    from bsir.train.export import export_onnx
    from bsir.train.loop import TrainConfig, Trainer
    from bsir.train.models import load_model

    try:
        block = parse_block(args.block)
        plan = SparsityPlan(block, args.sparsity, args.criterion, args.skip_first,
                            not args.no_linear, args.balanced, parse_overrides(args.overrides))
        config = TrainConfig(args.epochs, args.batch_size, args.lr, args.optimizer,
                             seed=args.seed, checkpoint_dir=args.checkpoint_dir,
                             resume=args.resume, progress=not args.no_progress)
        train_set, val_set = load_dataset(args.data)
        torch.manual_seed(args.seed)
        model = load_model(args.model)
    except ValueError as error:
        raise BsirError(str(error)) from None
    if args.resume and not args.checkpoint_dir:
        raise BsirError("--resume needs --checkpoint-dir")
    if args.weights:
        try:
            model.load_state_dict(torch.load(args.weights, map_location="cpu",
                                             weights_only=True))
        except (OSError, RuntimeError) as error:
            raise BsirError(f"cannot load weights {args.weights}: "
                            f"{str(error).splitlines()[0]}") from None
    if args.pretrain_epochs and not args.resume:
        dense = TrainConfig(args.pretrain_epochs, args.batch_size, args.lr, args.optimizer,
                            seed=args.seed, progress=not args.no_progress)
        Trainer(model, train_set, dense, val_set).run(None)
    try:
        trainer = Trainer(model, train_set, config, val_set)
        history = trainer.run(plan, args.mode)
    except ValueError as error:
        raise BsirError(str(error)) from None
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    if trainer.rank != 0:
        return 0
    _print_history(history)
    if args.output:
        from bsir.train.masking import plain_copy

        torch.save(plain_copy(model).state_dict(), args.output)
    if args.onnx:
        example = train_set[0][0].unsqueeze(0)
        masks = export_onnx(model, example, args.onnx)
        print(f"wrote {args.onnx} and {masks}")
    return 0


def _print_history(history) -> None:
    print(f"{'stage':>5}  {'epoch':>5}  {'loss':>8}  {'accuracy':>8}  {'density':>7}")
    for r in history.records:
        accuracy = "-" if r.accuracy is None else f"{r.accuracy:.4f}"
        loss = "-" if r.loss != r.loss else f"{r.loss:.4f}"
        print(f"{r.stage:>5}  {r.epoch:>5}  {loss:>8}  {accuracy:>8}  {r.density:>7.3f}")
