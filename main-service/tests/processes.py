"""Start a real server process on a free port, wait until it answers, and always stop it."""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def running(
    args: Sequence[str], *, ready_url: str, env: Mapping[str, str] | None = None, timeout_s: float = 60.0
) -> Iterator[subprocess.Popen[bytes]]:
    # Output goes to a file, not a pipe: a chatty server (llama.cpp logs) would block on a full pipe.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, *args], env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{args} exited: {log.read().decode(errors='replace')[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(ready_url, timeout=1.0).status_code < 500:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{args} did not answer {ready_url} within {timeout_s} s")
                time.sleep(0.1)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
