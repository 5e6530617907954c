#!/usr/bin/env python3
"""The README's first command, as a newcomer runs it: `cargo orders local`, then the curl
that posts events/order-plain.json and the one that reads the order back.

Starts `cargo orders local --port 0 --in-memory`, reads the address it prints, posts the
sample order, polls GET /orders/{id} until 200 (bounded), checks `cargo orders stats`, then
sends Ctrl-C (SIGINT) and expects a clean exit. Prints `N passed, M failed`.
"""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_server import LocalServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    RESULTS["passed" if condition else "failed"] += 1
    print(f"{'ok  ' if condition else 'FAIL'} {name} {'' if condition else detail}")


def request(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def main():
    server = LocalServer(["cargo", "orders", "local", "--port", "0", "--in-memory"],
                         start_timeout=600)  # the first run compiles
    try:
        try:
            base = server.start()
        except RuntimeError as e:
            check("orders local starts and prints its address", False, e)
            return 1
        check("orders local starts and prints its address", True)
        noisy = [line for line in server.banner if "WARN" in line or "ERROR" in line]
        check("the start-up prints no warning", not noisy, noisy)

        body = (ROOT / "events" / "order-plain.json").read_bytes()
        status, accepted = request("POST", f"{base}/order", body, {"Content-Type": "application/json"})
        check("the README's POST answers 202", status == 202, accepted)
        order_id = accepted["order_id"]

        give_up = time.monotonic() + 30
        while True:
            status, order = request("GET", f"{base}/orders/{order_id}")
            if status == 200 or time.monotonic() > give_up:
                break
            time.sleep(0.1)  # polling until the worker has stored it
        check("the README's GET answers 200 with the order", status == 200 and order["order_id"] == order_id, order)

        stats = subprocess.run(
            ["cargo", "orders", "stats", "--url", base], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        parsed = json.loads(stats.stdout) if stats.returncode == 0 else {}
        check("cargo orders stats reports the stored order", parsed.get("stored_orders") == 1, stats.stderr[-500:])

        code = server.stop(timeout=60)  # SIGINT, as Ctrl-C
        check("Ctrl-C stops it cleanly", code == 0, code)
    finally:
        server.stop()
    print(f"local-smoke: {RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
