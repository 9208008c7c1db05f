"""``python -m atlib.evaluate``: evaluate finished runs, or checkpoints trained by other code.

    python -m atlib.evaluate RUN [RUN ...] [--cifar-c DIR] [--autoattack [--n N]]
        add CIFAR-C and/or AutoAttack results to finished runs' final metrics;
    python -m atlib.evaluate --checkpoint PATH --arch resnet18 --no-normalize [--autoattack] [--n N] [--json FILE]
        clean, PGD, AutoAttack, CIFAR-10-NEG (and CIFAR-C with --cifar-c) results of one checkpoint file;
    python -m atlib.evaluate --checkpoints 'ckpts/epoch_*.pt' --arch resnet18 --no-normalize [--name NAME]
        record a checkpoint series as a run (method "external"), for every analysis and the explorer.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from atlib.cli import command
from atlib.config import DATA_ROOT_RULE, MODEL_NAMES
from atlib.datasets import DATASET_INFO
from atlib.evaluate import ATTACKS, VERSIONS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m atlib.evaluate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("runs", nargs="*", help="finished run folders")
    source = parser.add_argument_group("checkpoints trained by other code")
    source.add_argument("--checkpoint", help="one checkpoint file (a state_dict, alone or under state_dict/model/net)")
    source.add_argument("--checkpoints", help="a glob of one training run's checkpoints, e.g. 'ckpts/epoch_*.pt' "
                        "(quote it); the epoch is the last number in each file name")
    source.add_argument("--arch", help=f"the checkpoint's architecture: {', '.join(MODEL_NAMES)}, or a name registered "
                        "with atlib.models.register_model")
    source.add_argument("--model-module", help="a Python module registering --arch with atlib.models.register_model "
                        "(imported first; recorded in the run of --checkpoints)")
    source.add_argument("--no-normalize", action="store_true", help="the network takes [0, 1] pixels (TRADES, MART, AWP models)")
    source.add_argument("--mean", type=float, nargs=3, help="input normalization mean the network expects (default: the dataset's)")
    source.add_argument("--std", type=float, nargs=3, help="input normalization std the network expects (default: the dataset's)")
    source.add_argument("--dataset", choices=tuple(DATASET_INFO), default="cifar10", help="the checkpoint's dataset (default: cifar10)")
    source.add_argument("--data-root", help=f"folder (or archive) holding the dataset: {DATA_ROOT_RULE}")
    source.add_argument("--neg-path", help="CIFAR10_neg.npz (an error if missing); unset: looked for beside the data")
    source.add_argument("--test-subset", type=int, help="evaluate/record a class-balanced subset of this many test images")
    source.add_argument("--json", help="--checkpoint/--checkpoints: also write the results as one JSON object to this file")
    source.add_argument("--name", help="--checkpoints: the run's folder name (default derived from the folder of the files)")
    source.add_argument("--out-dir", default="outputs/runs", help="--checkpoints: where the run folder goes")
    attack = parser.add_argument_group("robustness")
    attack.add_argument("--autoattack", action="store_true", help="AutoAttack (needs the optional package pyautoattack)")
    attack.add_argument("--aa-version", choices=VERSIONS, default="standard", help="AutoAttack version (default: standard)")
    attack.add_argument("--aa-attacks", nargs="+", choices=ATTACKS, help="attacks of --aa-version custom")
    attack.add_argument("--n", type=int, help="attack this many class-balanced test images (default: 1000; for runs "
                        "their robust_eval_n, so PGD and AutoAttack attack the same images)")
    attack.add_argument("--eps-255", type=float, nargs="+", help="budgets in 1/255 units (default: 8; for runs the "
                        "budgets of their PGD evaluation)")
    attack.add_argument("--pgd-steps", type=int, default=20, help="PGD steps (default: 20)")
    parser.add_argument("--cifar-c", help="folder with <corruption>.npy and labels.npy (released or generated)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda if available, else cpu; default)")
    parser.add_argument("--batch-size", type=int, default=1000, help="evaluation batch size (default: 1000)")
    return parser


@command
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    modes = [bool(args.runs), args.checkpoint is not None, args.checkpoints is not None]
    if sum(modes) != 1:
        parser.error("give run folders, or --checkpoint PATH, or --checkpoints 'GLOB' (exactly one of them)")
    if args.aa_attacks and args.aa_version != "custom":
        raise ValueError("--aa-attacks needs --aa-version custom")
    from atlib.evaluate.autoattack import autoattack_class  # torch loads only when a command runs
    from atlib.config import resolve_device

    args.device = str(resolve_device(args.device))
    if args.autoattack:
        autoattack_class()  # fail before any work when the package is missing
    if args.runs:
        return _runs(parser, args)
    return _checkpoints(parser, args)


def _runs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from atlib.evaluate.corruptions import add_cifar_c_metrics
    from atlib.evaluate.external import add_autoattack_metrics

    if args.cifar_c is None and not args.autoattack:
        parser.error("nothing to add to the runs: give --cifar-c DIR and/or --autoattack")
    for path in args.runs:
        if args.cifar_c is not None:
            result = add_cifar_c_metrics(path, args.cifar_c, args.device, args.batch_size)
            print(f"{path}: CIFAR-C seed-paper mean {result['seed_paper_mean']}, RobustBench mean {result['robustbench_mean']}")
        if args.autoattack:
            result = add_autoattack_metrics(path, args.n, args.eps_255, version=args.aa_version, attacks=args.aa_attacks,
                                            device=args.device, batch_size=min(args.batch_size, 500))
            print(f"{path}: AutoAttack ({args.aa_version}) robust accuracy {result['robust_acc']} on {result['n']} images")
    return 0


def _checkpoints(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from atlib.evaluate.external import evaluate_checkpoint, record_checkpoints
    from atlib.models import import_model_module
    from atlib.store.io import write_json

    if args.arch is None:
        parser.error("--checkpoint/--checkpoints need --arch")
    if args.no_normalize and (args.mean or args.std):
        parser.error("give either --no-normalize or --mean/--std, not both")
    if (args.mean is None) != (args.std is None):
        parser.error("--mean and --std go together")
    normalize = None if args.no_normalize else (args.mean, args.std) if args.mean else DATASET_INFO[args.dataset].normalization
    autoattack = {"version": args.aa_version, "attacks": args.aa_attacks} if args.autoattack else None
    options: dict[str, Any] = dict(
        data_root=args.data_root, test_subset=args.test_subset, neg_path=args.neg_path, n=1000 if args.n is None else args.n,
        eps_255=args.eps_255 or (8.0,), pgd_steps=args.pgd_steps, autoattack=autoattack, cifar_c_root=args.cifar_c,
        device=args.device, batch_size=args.batch_size,
    )
    import_model_module(args.model_module)
    if args.checkpoint is not None:
        results = evaluate_checkpoint(args.checkpoint, args.arch, normalize, args.dataset, **options)
    else:
        run = record_checkpoints(args.checkpoints, args.arch, normalize, args.dataset, name=args.name,
                                 out_dir=args.out_dir, model_module=args.model_module, **options)
        print(f"run: {run.path} ({run.num_points} record points)")
        results = {"run": str(run.path), **run.metrics}
    print(_summary(results))
    if args.json:
        write_json(args.json, results)
    return 0


def _summary(results: dict[str, Any]) -> str:
    lines = [f"clean accuracy {results['clean_acc']:.4f}"]
    if results.get("neg_acc") is not None:
        lines.append(f"CIFAR-10-NEG accuracy {results['neg_acc']:.4f}")
    for eps, acc in results.get("robust_acc", {}).items():
        lines.append(f"PGD-{results['robust_eval']['steps']} eps={eps}/255 accuracy {acc:.4f} on {results['robust_eval']['n']} images")
    for eps, acc in (results.get("autoattack") or {}).get("robust_acc", {}).items():
        lines.append(f"AutoAttack eps={eps}/255 accuracy {acc:.4f} on {results['autoattack']['n']} images")
    if "cifar_c" in results:
        lines.append(f"CIFAR-C mean accuracy: seed-paper {results['cifar_c']['seed_paper_mean']}, "
                     f"RobustBench {results['cifar_c']['robustbench_mean']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
