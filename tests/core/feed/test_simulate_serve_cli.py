"""`python -m core simulate --serve` shares one simulated market between several clients."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import time


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("simulator server did not start")


def _spots(path) -> dict[int, float]:
    with gzip.open(path, "rt") as fh:
        objs = [json.loads(line) for line in fh]
    return {
        o["ts"]: o["ltp"]
        for o in objs
        if o.get("type") == "tick" and "strike" not in o and o["symbol"] == "NIFTY"
    }


def test_two_clients_record_the_same_market(tmp_path):
    port = _free_port()
    cli = [sys.executable, "-m", "core"]
    server = subprocess.Popen(
        [*cli, "simulate", "--serve", f"127.0.0.1:{port}", "--speed", "20", "--duration", "30"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_listening(port)
        clients = [
            subprocess.Popen(
                [
                    *cli,
                    "record",
                    "--feed",
                    f"ws://127.0.0.1:{port}",
                    "--duration",
                    "6",
                    "--out",
                    str(tmp_path / f"client{i}.jsonl.gz"),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for i in (1, 2)
        ]
        outputs = [c.communicate(timeout=60) for c in clients]
        assert all(c.returncode == 0 for c in clients), outputs
    finally:
        server.terminate()
        server.wait(timeout=20)
    a, b = _spots(tmp_path / "client1.jsonl.gz"), _spots(tmp_path / "client2.jsonl.gz")
    common = set(a) & set(b)
    assert len(common) > 50  # both saw many seconds of the same session
    assert all(a[t] == b[t] for t in common)
