"""checkpoint.pt: what ``--resume`` needs, behind a header and a checksum.

The file is ``CHECKPOINT_MAGIC``, the SHA-256 of the payload, then the payload (``torch.save``
of a dict whose ``format`` is ``sliceflow-checkpoint``), so a truncated, damaged or foreign file
is always detected before it is unpickled.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from sliceflow.errors import RunDirError
from sliceflow.rundir.layout import CHECKPOINT_FILE
from sliceflow.rundir.writers import atomic_write_bytes

CHECKPOINT_MAGIC = b"sliceflow checkpoint v1\n"
_DIGEST = 32  # bytes of a SHA-256


def write_checkpoint(path: Path, data: Any) -> Path:
    """``torch.save(data)`` behind the header and its SHA-256, written atomically.

    Parameters
    ----------
    path : Path
        The checkpoint file.
    data : Any
        What the engine needs to resume (tensors, generator states, progress).

    Returns
    -------
    Path
        ``path``.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(data, buffer)
    payload = buffer.getvalue()
    return atomic_write_bytes(path, CHECKPOINT_MAGIC + hashlib.sha256(payload).digest() + payload)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint a run wrote.

    Parameters
    ----------
    path : Path
        checkpoint.pt of the run folder given to ``--resume``.

    Returns
    -------
    dict
        The saved dict (tensors on the CPU).

    Raises
    ------
    RunDirError
        One line naming the file and the fix, if it is missing, unreadable, damaged or foreign.
    """
    import torch

    if not path.is_file():
        raise RunDirError(
            f"--resume: no {CHECKPOINT_FILE} in {str(path.parent)!r}; run without --resume or "
            "point --out at an interrupted run"
        )
    start_over = "run without --resume to start over, or choose another --out"
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RunDirError(f"{path}: unreadable ({error.strerror}); {start_over}") from None
    head = len(CHECKPOINT_MAGIC)
    if not data.startswith(CHECKPOINT_MAGIC):
        raise RunDirError(f"{path}: not a sliceflow checkpoint; {start_over}")
    payload = data[head + _DIGEST :]
    if hashlib.sha256(payload).digest() != data[head : head + _DIGEST]:
        raise RunDirError(f"{path}: damaged (its checksum does not match); {start_over}")
    saved = torch.load(io.BytesIO(payload), weights_only=False, map_location="cpu")
    if not isinstance(saved, dict) or saved.get("format") != "sliceflow-checkpoint":
        raise RunDirError(f"{path}: not a sliceflow checkpoint; {start_over}")
    return saved
