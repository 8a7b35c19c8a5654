"""Secrets for the embedded default: generated once into var/ with mode 0600.

In production (QMC_ENV=production) every secret must come from the environment;
nothing is generated.
"""

import os
import secrets
from pathlib import Path


class MissingSecret(RuntimeError):
    pass


def env_or_generated(name: str, var_dir: Path, *, production: bool, nbytes: int = 32) -> str:
    value = os.environ.get(name)
    if value:
        return value
    if production:
        raise MissingSecret(f"{name} must be set in the environment in production")
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / f"{name.lower()}.secret"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_hex(nbytes)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    try:
        os.link(tmp, path)  # atomic; the first process to create it wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


def env_or_file(name: str, var_dir: Path) -> str:
    """An optional secret: the environment's, else `var/<name>.secret` if that file exists
    (written by `manage.py rotate_master_key` in the embedded default), else ""."""
    value = os.environ.get(name)
    if value:
        return value
    path = var_dir / f"{name.lower()}.secret"
    return path.read_text().strip() if path.exists() else ""
