"""Reads the records of an offline wandb run file (.wandb) without a server: a LevelDB-style log of protobufs."""

import contextlib
import json
import struct
import time
from pathlib import Path

BLOCK = 32768
HEADER = 7  # ":W&B" + magic (2) + version (1)


def records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb run file"
    pos, pending = HEADER, b""
    while pos + 7 <= len(data):
        room = BLOCK - pos % BLOCK
        if room < 7:
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            break
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            yield record


def finished_records(path: Path, timeout: float = 60.0) -> list:
    """The run file's records once its ``exit`` record is on disk: wandb's service process may still be writing
    the file for a moment after ``wandb.finish()`` returns."""
    deadline = time.time() + timeout
    while True:
        try:
            found = list(records(path))
        except Exception:  # noqa: BLE001 - a record still being written
            found = []
        if any(r.WhichOneof("record_type") == "exit" for r in found) or time.time() > deadline:
            return found
        time.sleep(0.2)


def logged_values(path: Path) -> dict[str, list[float]]:
    """Every history value logged in the (finished) run, by key."""
    values: dict[str, list[float]] = {}
    for record in finished_records(path):
        if record.WhichOneof("record_type") == "history":
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                with contextlib.suppress(TypeError, ValueError):
                    values.setdefault(key, []).append(float(json.loads(item.value_json)))
    return values
