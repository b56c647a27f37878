"""The command line: ``python -m drawjourney train|sample|bench|info ...``.

  python -m drawjourney train judge                 # the MNIST judge, to runs/judge.pt
  python -m drawjourney train mlp --minutes 2 --out runs/mlp.pt
  python -m drawjourney sample mlp --checkpoint runs/mlp.pt --out samples.png
  python -m drawjourney bench data                  # data pipeline vs DataLoader
  python -m drawjourney bench mlp --minutes 2 --out results/bench.json
  python -m drawjourney info runs/mlp.pt            # what a checkpoint holds
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drawjourney", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train the judge or a model family with its recipe")
    p.add_argument("name", help="'judge' or a family name (see 'bench --list')")
    p.add_argument("--minutes", type=_minutes, default=None,
                   help="training budget (default: the whole recipe of the shipped checkpoint)")
    p.add_argument("--out", type=Path, default=None,
                   help="checkpoint path to write (default runs/<name>.pt; the shipped judge "
                        "is replaced only with an explicit --out drawjourney/assets/judge.pt)")

    p = sub.add_parser("sample", help="draw samples from a checkpoint into a PNG grid")
    p.add_argument("name", help="family name")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--n", type=_positive_int, default=64, help="number of samples")
    p.add_argument("--out", type=Path, default=Path("samples.png"))

    p = sub.add_parser("bench", help="measure families (and the data pipeline) on common metrics")
    p.add_argument("names", nargs="*", help="'data' and/or family names; none means all")
    p.add_argument("--minutes", type=_minutes, default=5.0, help="training budget per family")
    p.add_argument("--samples", type=_sample_count, default=10_000,
                   help="samples for FID-MNIST (at least 2; 10000 to compare models)")
    p.add_argument("--checkpoint", action="append", default=[], type=_family_path,
                   metavar="FAMILY=PATH",
                   help="measure this checkpoint instead of training (repeatable)")
    p.add_argument("--record", action="store_true",
                   help="write the measured numbers into each --checkpoint file's metrics")
    p.add_argument("--save-dir", type=Path, default=None,
                   help="save each model trained here as SAVE_DIR/<family>.pt")
    p.add_argument("--out", type=Path, default=None, help="write results as JSON (+ .md table)")
    p.add_argument("--list", action="store_true", help="list the registered families")

    p = sub.add_parser("info", help="print what a checkpoint holds")
    p.add_argument("path", type=Path)

    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return {"train": _train, "sample": _sample, "bench": _bench, "info": _info}[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, UsageError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


class UsageError(Exception):
    """A command line that names something that does not exist or does not fit."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _sample_count(text: str) -> int:
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError("FID-MNIST needs at least 2 samples (10000 to compare)")
    return value


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of minutes, got {text}")
    return value


def _family_path(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{text!r} is not FAMILY=PATH (e.g. mlp=runs/mlp.pt)")
    return name, Path(path)


def _family(name: str):
    from drawjourney import bench

    families = bench.families()
    if name not in families:
        raise UsageError(f"no family {name!r}; registered: {', '.join(families) or 'none'}")
    return families[name]


def _train(args) -> int:
    from drawjourney import checkpoint, runtime

    if args.name == "judge":
        from drawjourney import metrics

        out = Path("runs") / "judge.pt" if args.out is None else args.out
        path, accuracy = metrics.train_and_save_judge(path=out, minutes=args.minutes)
        print(f"judge saved to {path}: test accuracy {accuracy:.4f}")
        if path.resolve() != metrics.ASSET_PATH:
            print(f"(the shipped judge is unchanged; to replace it, and so every FID-MNIST "
                  f"number of the course: --out {metrics.ASSET_PATH})")
        return 0
    family = _family(args.name)
    device = runtime.device()
    start = time.perf_counter()
    model = family.train(args.minutes, device)
    seconds = time.perf_counter() - start
    out = args.out or Path("runs") / f"{family.name}.pt"
    budget = "the whole recipe" if args.minutes is None else f"a {args.minutes:g}-minute budget"
    checkpoint.save(model, out, metrics={"train_seconds": round(seconds, 1),
                                         "hardware": runtime.hardware(device)},
                    command="python -m drawjourney " + " ".join(args.argv),
                    note=f"{family.name} recipe, {budget}")
    print(f"{family.name} saved to {out} ({seconds:.0f} s on {runtime.hardware(device)}); "
          f"measure it with: python -m drawjourney bench {family.name} "
          f"--checkpoint {family.name}={out}")
    return 0


def _sample(args) -> int:
    import torch

    from drawjourney import checkpoint, plot, runtime

    family = _family(args.name)
    if args.out.is_dir() or args.out.suffix.lower() not in {".png", ".pdf", ".svg", ".jpg"}:
        raise UsageError(f"--out {args.out}: give an image file name ending in .png, .pdf, "
                         f".svg or .jpg")
    model = checkpoint.load(args.checkpoint, device=runtime.device(), expect=family.model_class)
    labels = torch.arange(args.n, device=runtime.device()) % 10 if family.conditional else None
    images = family.sample(model, args.n, labels)
    fig = plot.grid(images, title=f"{family.name}: {args.n} samples from {args.checkpoint.name}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120, bbox_inches="tight")
    print(f"wrote {args.out}")
    return 0


def _bench(args) -> int:
    from drawjourney import bench, checkpoint

    families = bench.families()
    if args.list:
        for name, family in families.items():
            print(f"{name:12s} {family.description}")
        return 0
    names = args.names or ["data", *families]
    checkpoints = dict(args.checkpoint)
    if args.record and not checkpoints:
        raise UsageError("--record writes into --checkpoint files: give at least one")
    for name in checkpoints:
        if name not in families:
            raise UsageError(f"--checkpoint {name}=...: no family {name!r}; registered: "
                             f"{', '.join(families)}")
        if name not in names:
            raise UsageError(f"--checkpoint {name}=... given, but {name!r} is not among the "
                             f"families to bench ({', '.join(names)})")
    for name in names:
        if name != "data":
            _family(name)  # every name is checked before any slow work starts
    results = []
    for name in names:
        if name == "data":
            result = bench.measure_data()
            print(f"data: drawjourney {result['drawjourney_batches_per_s']:.0f} batches/s, "
                  f"DataLoader+ToTensor {result['dataloader_batches_per_s']:.0f} batches/s, "
                  f"{result['speedup']:.1f}x (batch {result['batch_size']}, {result['device']})")
        else:
            family = _family(name)
            save_to = None if args.save_dir is None else args.save_dir / f"{name}.pt"
            result = bench.measure_family(family, checkpoint=checkpoints.get(name),
                                          minutes=args.minutes, n_samples=args.samples,
                                          save_to=save_to)
            if args.record and name in checkpoints:
                checkpoint.record_metrics(checkpoints[name], bench.checkpoint_metrics(result))
                print(f"recorded in {checkpoints[name]}")
        results.append(result)
    table = bench.markdown_table(results)
    if any("family" in r for r in results):
        print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
        args.out.with_suffix(".md").write_text(table + "\n")
        print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


def _info(args) -> int:
    from drawjourney import checkpoint

    print(json.dumps(checkpoint.info(args.path), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
