#!/usr/bin/env python3
"""schemathesis against `orders local`, with openapi.yaml as the contract.

Starts `cargo orders local --port 0 --in-memory`, reads the address it prints, and runs
`st run openapi.yaml` against it: examples, schema coverage (boundaries, every documented
status) and fuzzing, positive and negative, with a fixed seed and deterministic
generation so a run is repeatable. Every check is on: no 5xx, every status, header, content
type and body as documented, invalid data rejected with 4xx, valid data accepted, 405 with
an Allow header for undocumented methods.

Run with the project's venv on PATH (scripts/test does): python3 tests/schemathesis_local.py
Extra arguments go to `st run` (for example `--max-examples 500` for a longer run).
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_server import LocalServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

ST_ARGS = [
    "--checks", "all",
    "--phases", "examples,coverage,fuzzing",
    "--max-examples", "60",
    "--seed", "20261125",
    "--generation-deterministic",
    "--workers", "2",
    "--request-timeout", "10",
    "--no-color",
]


def start_local():
    # The emulated stage throttle and account concurrency off: their answers depend on
    # timing, and this run checks every route's documented answers deterministically
    # (the 429 and 503 shapes are checked by crates/orders-cli/tests/limits_e2e.rs).
    server = LocalServer(
        ["cargo", "orders", "local", "--port", "0", "--in-memory", "--processing-delay-ms", "0",
         "--api-rate", "off", "--account-concurrency", "off"],
        start_timeout=600,  # the first run compiles
    )
    try:
        server.start()
    except RuntimeError as e:
        print(e)
    return server


def stored_order(base):
    """Posts the sample order and waits (bounded) until the worker has stored it."""
    body = json.loads((ROOT / "events" / "order-plain.json").read_text())
    req = urllib.request.Request(
        f"{base}/order", data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        order_id = json.loads(resp.read())["order_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/orders/{order_id}", timeout=10):
                return order_id
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
        time.sleep(0.1)
    raise RuntimeError(f"order {order_id} was not stored within 30 s")


def main():
    st = shutil.which("st")
    if st is None:
        print("schemathesis (st) is not on PATH: run scripts/bootstrap and put .venv/bin on PATH")
        print("0 passed, 1 failed")
        return 1
    server = start_local()
    base = server.base
    if base is None:
        print("orders local did not start")
        print("0 passed, 1 failed")
        return 1
    try:
        env = dict(os.environ, ORDER_ID=stored_order(base))
        result = subprocess.run(
            [st, "--config-file", str(ROOT / "tests" / "schemathesis.toml"), "run",
             str(ROOT / "openapi.yaml"), "--url", base, *ST_ARGS, *sys.argv[1:]],
            cwd=ROOT,
            env=env,
            timeout=600,
        )
    finally:
        server.stop()
    ok = result.returncode == 0
    print(f"schemathesis: {1 if ok else 0} passed, {0 if ok else 1} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
