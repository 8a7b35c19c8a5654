"""Command line: ``python -m quantum <cmd> ... [--json] [--seed S] [--plot OUT.png]``.

Every command prints ONE JSON object (with ``"simulated": true``) when ``--json`` is given,
a short human summary otherwise. Bad parameters give a one-line error on stderr and exit
code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from quantum import QuantumParamError


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        raise CliError(message)


def _positive_int(name: str) -> Callable[[str], int]:
    def conv(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be positive, got {v}")
        return v

    return conv


def _fraction(name: str, *, open_low: bool = False) -> Callable[[str], float]:
    def conv(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if math.isnan(v) or v > 1 or v < 0 or (open_low and v <= 0):
            rng = "(0, 1]" if open_low else "[0, 1]"
            raise argparse.ArgumentTypeError(f"{name} must be in {rng}, got {text}")
        return v

    return conv


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--seed", type=int, default=None, help="random seed (reproducible runs)")
    p.add_argument("--plot", metavar="OUT.png", default=None, help="write a matplotlib figure")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m quantum", description="QMedChain quantum lab (simulations)")
    sub = parser.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    p = sub.add_parser("bb84", help="BB84 key distribution with Eve and noise")
    p.add_argument("--qubits", type=_positive_int("--qubits"), required=True)
    p.add_argument("--eve", type=_fraction("--eve"), default=0.0)
    p.add_argument("--noise", type=_fraction("--noise"), default=0.0)
    _common(p)

    p = sub.add_parser("neqr", help="NEQR quantum image encryption")
    nsub = p.add_subparsers(dest="neqr_cmd", required=True, parser_class=_Parser)
    k = nsub.add_parser("keygen")
    k.add_argument("keyfile")
    _common(k)
    for name in ("encrypt", "decrypt"):
        e = nsub.add_parser(name)
        e.add_argument("input")
        e.add_argument("output")
        e.add_argument("--key", required=True)
        e.add_argument("--classical", action="store_true", help="force the classical path")
        _common(e)
    a = nsub.add_parser("analyze")
    a.add_argument("plain")
    a.add_argument("cipher")
    a.add_argument("--key", required=True)
    a.add_argument(
        "--trials", type=int, default=5, help="one-pixel changes / key-bit flips averaged (default 5)"
    )
    _common(a)

    p = sub.add_parser("qhash", help="quantum-walk hash of a message")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--hex", dest="hexmsg", help="message as hex")
    g.add_argument("--file", dest="file", help="message file")
    _common(p)

    p = sub.add_parser("qhash-stats", help="statistical tests of the quantum-walk hash")
    p.add_argument("--samples", type=_positive_int("--samples"), required=True)
    p.add_argument("--message-bytes", type=_positive_int("--message-bytes"), default=128)
    _common(p)

    p = sub.add_parser("bellauth", help="Bell-state authentication between two nodes")
    p.add_argument("--pairs", type=_positive_int("--pairs"), required=True)
    p.add_argument("--checked", type=_positive_int("--checked"), required=True)
    p.add_argument("--attack", choices=["none", "intercept", "entangle"], default="none")
    p.add_argument("--noise", type=_fraction("--noise"), default=0.0)
    p.add_argument("--trials", type=_positive_int("--trials"), default=1)
    _common(p)

    p = sub.add_parser("ghost", help="computational ghost imaging")
    p.add_argument("input", nargs="?", default=None, help="8-bit grayscale PNG (any image)")
    p.add_argument("--ratio", type=_fraction("--ratio", open_low=True), default=0.25)
    p.add_argument("--method", choices=["gi", "dgi", "cs"], default="cs")
    p.add_argument("--patterns", choices=["random", "hadamard"], default="random")
    p.add_argument("--size", type=_positive_int("--size"), default=64, help="resize to SIZE x SIZE")
    p.add_argument("--detector-noise", type=float, default=0.0, help="bucket noise std / signal std")
    p.add_argument("--out", default=None, help="reconstruction PNG")
    p.add_argument("--sweep", action="store_true", help="PSNR/SSIM vs ratio 5%%-100%% for gi, dgi, cs")
    _common(p)
    return parser


def _emit(args: argparse.Namespace, result: dict[str, Any], summary: str) -> None:
    if args.json:
        print(json.dumps(result, sort_keys=False))
    else:
        print(summary)


def _check_out_path(path: str | None, what: str) -> None:
    if path is None:
        return
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise CliError(f"{what}: directory {parent} does not exist")


def _cmd_bb84(args: argparse.Namespace) -> None:
    from quantum.bb84 import run_bb84

    _check_out_path(args.plot, "--plot")
    res = run_bb84(args.qubits, eve=args.eve, noise=args.noise, seed=args.seed)
    if args.plot:
        from quantum.plots import plot_bb84

        plot_bb84(res, args.plot)
        res["plot"] = args.plot
    summary = (
        f"BB84 (simulated): sifted={res['sifted']} qber={res['qber']:.4f} aborted={res['aborted']} "
        f"key_bits={res['key_bits']} keys_match={res['keys_match']}"
    )
    _emit(args, res, summary)


def _cmd_qhash(args: argparse.Namespace) -> None:
    from quantum.qwalk_hash import qwalk_hexdigest

    if args.hexmsg is not None:
        try:
            msg = bytes.fromhex(args.hexmsg)
        except ValueError:
            raise CliError("--hex: not a hex string") from None
    else:
        try:
            msg = Path(args.file).read_bytes()
        except OSError as exc:
            raise CliError(f"--file: cannot read {args.file}: {exc.strerror}") from None
    digest = qwalk_hexdigest(msg)
    res = {"simulated": True, "digest": digest, "bits": 256, "message_bytes": len(msg)}
    _emit(args, res, digest)


def _cmd_qhash_stats(args: argparse.Namespace) -> None:
    from quantum.qwalk_hash import stats, throughput

    _check_out_path(args.plot, "--plot")
    res = stats(args.samples, message_bytes=args.message_bytes, seed=args.seed)
    res["digests_per_s_1KiB"] = throughput(1024, 50, seed=args.seed or 0)
    if args.plot:
        from quantum.plots import plot_qhash

        plot_qhash(res, args.plot)
        res["plot"] = args.plot
    summary = (
        f"qhash stats (simulated): B={res['mean_changed_bits']:.2f} P={res['P']:.2f}% "
        f"dB={res['dB']:.2f} dP={res['dP']:.2f}% collisions={res['collisions']}"
    )
    _emit(args, res, summary)


def _cmd_bellauth(args: argparse.Namespace) -> None:
    from quantum.bell_auth import run_bell_auth

    _check_out_path(args.plot, "--plot")
    if args.checked > args.pairs:
        raise CliError(f"--checked ({args.checked}) must not exceed --pairs ({args.pairs})")
    res = run_bell_auth(
        args.pairs, args.checked, args.attack, noise=args.noise, trials=args.trials, seed=args.seed
    )
    if args.plot:
        from quantum.plots import plot_bellauth

        plot_bellauth(res, args.plot)
        res["plot"] = args.plot
    summary = (
        f"Bell auth (simulated): attack={args.attack} error_rate={res['error_rate']:.4f} "
        f"detected={res['detected']} p_detect_theory={res['detection_probability_theory']:.4f}"
    )
    _emit(args, res, summary)


def _cmd_ghost(args: argparse.Namespace) -> None:
    from quantum import ghost
    from quantum.imageio import read_gray_png, write_gray_png

    _check_out_path(args.out, "--out")
    _check_out_path(args.plot, "--plot")
    if args.detector_noise < 0 or not math.isfinite(args.detector_noise):
        raise CliError("--detector-noise must be a non-negative number")
    if args.input is None:
        img = ghost.default_phantom(args.size)
    else:
        img = read_gray_png(args.input)
    img = ghost.prepare_image(img, args.size)
    if args.sweep:
        res = ghost.sweep(img, patterns=args.patterns, noise=args.detector_noise, seed=args.seed)
        if args.plot:
            from quantum.plots import plot_ghost_sweep

            plot_ghost_sweep(res, args.plot)
            res["plot"] = args.plot
        lines = ["ratio   " + "  ".join(f"{m:>14}" for m in ghost.METHODS)]
        for row in res["table"]:
            lines.append(
                f"{row['ratio']:.2f}    "
                + "  ".join(f"{row[m]['psnr']:6.2f}/{row[m]['ssim']:.3f}" for m in ghost.METHODS)
            )
        _emit(args, res, "\n".join(lines))
        return
    res = ghost.acquire_and_reconstruct(
        img,
        ratio=args.ratio,
        method=args.method,
        patterns=args.patterns,
        noise=args.detector_noise,
        seed=args.seed,
    )
    recon = res.pop("reconstruction")
    if args.out:
        write_gray_png(args.out, ghost.to_uint8(recon))
        res["out"] = args.out
    if args.plot:
        from quantum.plots import plot_ghost

        plot_ghost(img, recon, res, args.plot)
        res["plot"] = args.plot
    summary = f"ghost {args.method} (simulated): psnr={res['psnr']:.2f} ssim={res['ssim']:.3f} M={res['measurements']}"
    _emit(args, res, summary)


def _cmd_neqr(args: argparse.Namespace) -> None:
    from quantum import neqr
    from quantum.imageio import read_gray_png, write_gray_png

    if args.neqr_cmd == "keygen":
        _check_out_path(args.keyfile, "KEYFILE")
        key = neqr.NeqrKey.generate(seed=args.seed)
        key.save(args.keyfile)
        res = {"simulated": True, "keyfile": args.keyfile, "map": key.describe()}
        _emit(args, res, f"wrote key {args.keyfile}")
        return
    try:
        key = neqr.NeqrKey.load(args.key)
    except FileNotFoundError:
        raise CliError(f"--key: key file {args.key} not found") from None
    except (OSError, ValueError) as exc:
        raise CliError(f"--key: cannot read key file {args.key}: {exc}") from None
    if args.neqr_cmd == "encrypt":
        _check_out_path(args.output, "OUT")
        img = read_gray_png(args.input)
        cipher, meta, info = neqr.encrypt_image(img, key, force_classical=args.classical, seed=args.seed)
        neqr.write_cipher_png(args.output, cipher, meta)
        res = {"simulated": True, "input": args.input, "output": args.output, **info}
        _emit(args, res, f"encrypted {args.input} -> {args.output} ({info['path']} path)")
        return
    if args.neqr_cmd == "decrypt":
        _check_out_path(args.output, "OUT")
        cipher, meta = neqr.read_cipher_png(args.input)
        plain, info = neqr.decrypt_image(cipher, meta, key, force_classical=args.classical, seed=args.seed)
        write_gray_png(args.output, plain)
        res = {"simulated": True, "input": args.input, "output": args.output, **info}
        _emit(args, res, f"decrypted {args.input} -> {args.output} ({info['path']} path)")
        return
    if args.neqr_cmd == "analyze":
        _check_out_path(args.plot, "--plot")
        plain = read_gray_png(args.plain)
        cipher, meta = neqr.read_cipher_png(args.cipher)
        res = neqr.analyze(plain, cipher, meta, key, seed=args.seed, trials=args.trials)
        if args.plot:
            from quantum.plots import plot_neqr

            plot_neqr(plain, cipher, res, args.plot)
            res["plot"] = args.plot
        summary = (
            f"NEQR (simulated): NPCR={res['npcr']:.4f}% UACI={res['uaci']:.4f}% "
            f"entropy={res['entropy']:.5f} corr h/v/d={res['corr_h']:.4f}/{res['corr_v']:.4f}/"
            f"{res['corr_d']:.4f} key-sensitivity NPCR={res['key_sensitivity_npcr']:.4f}%"
        )
        _emit(args, res, summary)
        return


COMMANDS = {
    "bb84": _cmd_bb84,
    "neqr": _cmd_neqr,
    "qhash": _cmd_qhash,
    "qhash-stats": _cmd_qhash_stats,
    "bellauth": _cmd_bellauth,
    "ghost": _cmd_ghost,
}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        COMMANDS[args.cmd](args)
    except (CliError, QuantumParamError) as exc:
        msg = " ".join(str(exc).split())
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 1
    except Exception as exc:  # an internal failure: still one line, no traceback
        print(f"error: internal failure ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    return 0
