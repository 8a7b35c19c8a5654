"""Command line: ``python -m imaging.ml evaluate|train ...`` (the Django command wraps this)."""

from __future__ import annotations

import argparse
import json
import sys

from .contract import InputError
from .data import DatasetError

KINDS = ("classical", "qcnn", "cnn", "ensemble")  # == api.KINDS (api is imported lazily)


class CLIError(Exception):
    """A user-facing error (bad file, bad split, missing artifact)."""


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="python -m imaging.ml", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    ev = sub.add_parser("evaluate", help="evaluate a committed model on a MedMNIST .npz split (never trains)")
    ev.add_argument("--data", required=True, help="MedMNIST-format .npz (<split>_images, <split>_labels)")
    ev.add_argument("--split", default="val")
    ev.add_argument(
        "--model",
        choices=(*KINDS, "active"),
        default="active",
        help="a model kind, or 'active' (the registry's active model; without a database, the default)",
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    tr = sub.add_parser("train", help="train a model and rewrite its committed artifact (seeded)")
    tr.add_argument("--data", required=True)
    tr.add_argument("--model", choices=KINDS, default="classical")
    tr.add_argument("--seed", type=int, default=None, help="default: the seed recorded in the model card")
    return parser


def run(args, out=sys.stdout, err=sys.stderr) -> dict:
    from . import api

    try:
        if args.action == "evaluate":
            result = api.evaluate_file(args.data, args.split, args.model)
            if args.json:
                out.write(json.dumps(result, sort_keys=True) + "\n")
            else:
                for k in ("kind", "model_id", "split", "n", "auc", "acc", "sensitivity", "specificity"):
                    out.write(f"{k:12s} {result[k]}\n")
            return result
        if args.action == "train":
            card = api.train_and_save(
                args.data, args.model, seed=args.seed, log=lambda m: err.write(m + "\n")
            )
            from .cards import rerender_all

            rerender_all()
            out.write(
                json.dumps(
                    {
                        "model_id": card["model_id"],
                        "sha256": card["sha256"],
                        "validation": {k: card["validation"][k] for k in ("auc", "acc")},
                    }
                )
                + "\n"
            )
            return card
    except (DatasetError, InputError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from exc
    except ValueError as exc:
        if "SHA-256" in str(exc):
            raise CLIError(str(exc)) from exc
        raise
    raise CLIError(f"unknown action {args.action!r}")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        run(args)
    except CLIError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0
