"""`make run PERSIST=1`: moto's state saved when the stack stops, loaded when it starts.

moto keeps everything in memory. With PERSIST the stack's moto process pickles
its DynamoDB, SQS, EC2 and Cognito backends to `moto-state.pickle` in the
stack's state folder on a clean stop (Ctrl-C), and loads them on the next
start: the requests, the VPCs, the queued jobs and the user pool (so tokens
from before the restart stay valid). A stack killed with SIGKILL saves
nothing. moto's objects hold locks and RSA keys, which pickle refuses: they
are pickled as a fresh lock and as the key's PEM.

A pickle runs code when loaded: the file is the developer's own, written by
this process into their state folder, mode 0600, and read from nowhere else.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from moto.backends import get_backend

SERVICES = ("dynamodb", "sqs", "ec2", "cognito-idp")

logger = logging.getLogger("devstack.snapshot")

_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


def save(path: Path) -> None:
    """Write the backends of SERVICES to `path` (atomically: a temporary file, then rename)."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(
        {name: dict(get_backend(name)) for name in SERVICES}  # type: ignore[call-overload]
    )
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(buffer.getvalue())
    temporary.replace(path)
    logger.info("saved moto's state to %s (%d kB)", path, len(buffer.getvalue()) // 1024)


def restore(path: Path) -> bool:
    """Load what `save` wrote into this process's moto backends; False if there is no file."""
    try:
        with open(path, "rb") as handle:
            saved: dict[str, dict[str, Any]] = pickle.load(handle)
    except FileNotFoundError:
        return False
    for name, accounts in saved.items():
        live = get_backend(name)  # type: ignore[call-overload]
        for account_id, regions in accounts.items():
            live[account_id] = regions
    logger.info("loaded moto's state from %s", path)
    return True


def _new_lock(reentrant: bool) -> Any:
    return threading.RLock() if reentrant else threading.Lock()


def _load_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCK_TYPES):
            return _new_lock, (isinstance(obj, _LOCK_TYPES[1]),)
        if isinstance(obj, RSAPrivateKey):
            pem = obj.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return _load_key, (pem,)
        return NotImplemented
