"""The service's own secrets, kept in files under ``data_dir/keys`` so every worker on that data_dir shares them:
its ML-KEM-768 key (record keys are wrapped for it) and the HMAC key of access tokens. Never in the database."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from bindaas.config import Settings
from bindaas.crypto.sealing import KemPrivateKey


def _create_once(path: Path, make: Callable[[Path], None]) -> None:
    """Make ``path`` exactly once even when several workers start together: the first to create it writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path.with_suffix(".lock"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return
    os.close(fd)
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        make(tmp)
        tmp.replace(path)


def service_kem_key(settings: Settings) -> KemPrivateKey:
    """The service's ML-KEM-768 key, made on first use."""
    path = settings.service_key_file or settings.data_dir / "keys" / "service-kem.json"
    if not path.exists():
        _create_once(path, lambda tmp: KemPrivateKey.generate().save(tmp))
    return KemPrivateKey.load(path)


def token_secret(settings: Settings) -> bytes:
    """The HMAC key of access tokens: BINDAAS_TOKEN_SECRET, else a random file made on first use."""
    if settings.token_secret:
        return settings.token_secret.encode()
    path = settings.data_dir / "keys" / "token-secret"

    def make(tmp: Path) -> None:
        tmp.write_bytes(os.urandom(32))
        tmp.chmod(0o600)

    if not path.exists():
        _create_once(path, make)
    return path.read_bytes()
