"""A fingerprint worker: `python -m budgetdb.store.fingerprint_worker`, started by store/workers.py.

Reads requests from stdin and writes results to stdout, each a length-prefixed pickle (the
two ends are the same budgetdb; nothing else writes to these pipes). A worker is a fresh
interpreter running this module, not a fork of the caller: it shares no DuckDB threads and
never imports the caller's `__main__`. It ignores SIGINT (its parent ends it) and exits when
stdin closes.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
import traceback

HEADER = struct.Struct("<Q")


def send(stream, message) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    data = memoryview(HEADER.pack(len(body)) + body)
    while data:  # an unbuffered pipe may take part of it
        written = stream.write(data)
        data = data[written if written is not None else 0 :]
    stream.flush()


def receive(stream):
    """The next message, or None at the end of the stream."""
    header = _exactly(stream, HEADER.size)
    if header is None:
        return None
    body = _exactly(stream, HEADER.unpack(header)[0])
    if body is None:
        raise EOFError("message cut short")
    return pickle.loads(body)


def _exactly(stream, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .fingerprint import fingerprint

    requests, results = sys.stdin.buffer, sys.stdout.buffer
    send(results, ("ready", os.getpid()))
    while (request := receive(requests)) is not None:
        index, path, max_bytes, with_examples = request
        try:
            send(results, (index, fingerprint(path, max_bytes, with_examples)))
        except Exception:
            send(results, (index, RuntimeError(f"fingerprint of {path} failed:\n{traceback.format_exc()}")))


if __name__ == "__main__":
    main()
