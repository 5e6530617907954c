#!/usr/bin/env python3
"""Drive the real Lambda binaries through the Lambda Runtime API, without Docker.

This is the Docker-free equivalent of `sam local invoke -e events/<file> --env-vars ...`,
run as the README shows it: `cargo orders env --endpoint <moto> --create --format dotenv`
creates the queues and tables on a private moto server (SQS + DynamoDB, loopback) and writes
the functions' environment; `cargo lambda watch --env-file` serves the Runtime API with it and
runs the workspace's `ingest`, `worker` and `status` binaries; `cargo lambda invoke
--data-file events/...` sends them the committed sample events.

Asserts on every response, then prints `N passed, M failed` and exits non-zero on failure.
Run by scripts/test; needs the venv on PATH (cargo-lambda, moto, boto3).
"""

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
INVOKE_TIMEOUT = 600  # the first invoke compiles the binary
RESULTS = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    if condition:
        RESULTS["passed"] += 1
        print(f"ok   {name}")
    else:
        RESULTS["failed"] += 1
        print(f"FAIL {name} {detail}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    """A private moto server on a free loopback port; returns (process, endpoint URL).
    Also used by bench/coldstart.py."""
    moto = ROOT / ".venv/bin/moto_server"
    proc = subprocess.Popen(
        [str(moto) if moto.exists() else "moto_server", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
        if match:
            # Keep draining moto's log so it never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, match.group(1)
        if proc.poll() is not None:
            break
    raise SystemExit("moto_server did not start")


def write_env_file(endpoint, path):
    """`cargo orders env --endpoint ... --create --format dotenv`: the queues and tables on
    moto, and the KEY=VALUE file naming them; returns the file's variables."""
    out = subprocess.run(
        ["cargo", "orders", "env", "--endpoint", endpoint, "--create", "--format", "dotenv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=INVOKE_TIMEOUT,  # the first run compiles the orders binary
    )
    if out.returncode != 0:
        raise SystemExit(f"cargo orders env failed: {out.stderr[-2000:]}")
    path.write_text(out.stdout)
    return dict(line.split("=", 1) for line in out.stdout.splitlines())


def start_watch(env, env_file, log_dir, attempts=5):
    """`cargo lambda watch` on a free port, and that port. A free port found by binding and
    releasing it can be taken by another process before watch binds it, so the port counts
    only once watch itself logs that it serves there (its own line, not any listener on the
    port); otherwise watch is stopped and another port tried."""
    for attempt in range(attempts):
        port = free_port()
        log_path = log_dir / f"lambda-watch-{attempt}.log"
        log = open(log_path, "w")
        proc = subprocess.Popen(
            ["cargo", "lambda", "watch", "--ignore-changes", "--env-file", str(env_file),
             "-A", "127.0.0.1", "-P", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        serving = f"runtime_addr=127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if serving in log_path.read_text(errors="replace"):
                wait_for_port(port, proc)
                print(f"function logs: {log_path}")
                return proc, port
            time.sleep(0.1)  # polling a log file for a line, not standing in for an assertion
        stop(proc)
        print(f"cargo lambda watch did not serve on {port}; trying another port", file=sys.stderr)
    raise SystemExit(f"cargo lambda watch did not start in {attempts} attempts; see {log_dir}")


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wait_for_port(port, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("cargo lambda watch exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)  # polling for a port to open, not standing in for an assertion
    raise SystemExit(f"cargo lambda watch did not listen on {port}")


def invoke(port, function, data_file=None, data=None):
    cmd = ["cargo", "lambda", "invoke", function, "-A", "127.0.0.1", "-P", str(port), "-o", "json"]
    if data_file:
        cmd += ["--data-file", str(data_file)]
    else:
        cmd += ["--data-ascii", json.dumps(data)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=INVOKE_TIMEOUT, cwd=ROOT)
    if out.returncode != 0:
        raise AssertionError(f"invoke {function} failed: {out.stderr}")
    return json.loads(out.stdout)


def sqs_event_from(messages, queue_arn):
    """The exact event Lambda's SQS event source builds from received messages."""
    records = []
    for m in messages:
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    k: {
                        "stringValue": v.get("StringValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": v["DataType"],
                    }
                    for k, v in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": hashlib.md5(m["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def main():
    os.environ.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
    )
    moto, endpoint = start_moto()
    watch = None
    try:
        sqs = boto3.client("sqs", endpoint_url=endpoint)
        ddb = boto3.client("dynamodb", endpoint_url=endpoint)
        # A directory of this run's own: two runs (two clones, two CI jobs) never share logs.
        log_dir = Path(tempfile.mkdtemp(prefix="lambda-invoke-"))
        env_file = log_dir / "env"
        variables = write_env_file(endpoint, env_file)
        check("the env file points the functions at moto", variables.get("AWS_ENDPOINT_URL") == endpoint, variables)
        queue_url = variables["QUEUE_URL"]
        table = variables["TABLE_NAME"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

        # Only what the env file leaves to the functions' defaults; nothing names a resource.
        env = dict(os.environ, PROCESSING_DELAY_MS="0", RUST_LOG="info")
        for name in ("AWS_ENDPOINT_URL", "QUEUE_URL", "TABLE_NAME", "IDEMPOTENCY_TABLE"):
            env.pop(name, None)  # from the env file only
        watch, port = start_watch(env, env_file, log_dir)

        # --- ingest, with the committed API Gateway events --------------------------------
        resp = invoke(port, "ingest", EVENTS / "order-valid.json")
        body = json.loads(resp["body"])
        check("valid order answers 202", resp["statusCode"] == 202, resp)
        check("202 carries a UUIDv7 order_id", uuid.UUID(body["order_id"]).version == 7, body)
        check("202 carries Location", resp["headers"].get("location") == f"/orders/{body['order_id']}", resp["headers"])
        check("202 body has status and debug counters", body["status"] == "queued" and body["debug"]["enqueued"] >= 1, body)
        order_id = body["order_id"]

        resp = invoke(port, "ingest", EVENTS / "order-base64.json")
        check("base64 body answers 202", resp["statusCode"] == 202, resp)
        b64_id = json.loads(resp["body"])["order_id"]

        resp = invoke(port, "ingest", EVENTS / "order-invalid.json")
        body = json.loads(resp["body"])
        check("invalid order answers 400 validation_failed", resp["statusCode"] == 400 and body["error"] == "validation_failed", resp)
        fields = [d["field"] for d in body.get("details", [])]
        check("400 lists every problem", fields == ["email", "items[0].sku", "items[0].qty", "items[1].qty", "items[2].qty"], fields)

        bad_json = json.loads((EVENTS / "order-valid.json").read_text())
        bad_json["body"] = '{"email": '
        resp = invoke(port, "ingest", data=bad_json)
        check("malformed JSON answers 400 invalid_json", resp["statusCode"] == 400 and json.loads(resp["body"])["error"] == "invalid_json", resp)

        wrong_type = json.loads((EVENTS / "order-valid.json").read_text())
        wrong_type["headers"]["Content-Type"] = "text/plain"
        wrong_type["multiValueHeaders"]["Content-Type"] = ["text/plain"]
        resp = invoke(port, "ingest", data=wrong_type)
        check("text/plain answers 415", resp["statusCode"] == 415, resp)

        keyed = json.loads((EVENTS / "order-valid.json").read_text())
        keyed["headers"]["Idempotency-Key"] = "lambda-invoke-key-1"
        keyed["multiValueHeaders"]["Idempotency-Key"] = ["lambda-invoke-key-1"]
        first = invoke(port, "ingest", data=keyed)
        retry = invoke(port, "ingest", data=keyed)
        check("an Idempotency-Key retry replays the first answer", first["statusCode"] == 202 and retry["body"] == first["body"], (first, retry))
        check("the replay is marked", retry["headers"].get("idempotent-replayed") == "true", retry["headers"])
        keyed_id = json.loads(first["body"])["order_id"]

        # --- what ingest put on the queue --------------------------------------------------
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=2,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        ids = sorted(json.loads(m["Body"])["order_id"] for m in received)
        check("exactly the three accepted orders are queued (the retry is not)", ids == sorted([order_id, b64_id, keyed_id]), ids)
        check(
            "each message carries the order_id attribute",
            all(m["MessageAttributes"]["order_id"]["StringValue"] == json.loads(m["Body"])["order_id"] for m in received),
        )

        # --- status, before the worker has stored the sample order -----------------------
        resp = invoke(port, "status", EVENTS / "order-get.json")
        check("status answers 404 not_found before the order is stored", resp["statusCode"] == 404 and json.loads(resp["body"])["error"] == "not_found", resp)

        # --- worker, with the committed SQS batch (valid, duplicate, malformed) -----------
        for round_ in (1, 2):
            resp = invoke(port, "worker", EVENTS / "sqs-batch.json")
            failures = [f["itemIdentifier"] for f in resp.get("batchItemFailures", [])]
            check(f"sample batch round {round_}: only the malformed record fails", failures == ["33333333-3333-4333-8333-333333333333"], resp)
            count = ddb.scan(TableName=table, Select="COUNT")["Count"]
            check(f"sample batch round {round_}: one order stored", count == 1, count)

        resp = invoke(port, "status", EVENTS / "order-get.json")
        body = json.loads(resp["body"])
        check("status answers 200 once stored", resp["statusCode"] == 200 and body["status"] == "processed", resp)
        check("status masks the email", body.get("email") == "j***@example.com", body)

        # --- worker, with the messages ingest really queued -------------------------------
        resp = invoke(port, "worker", data=sqs_event_from(received, queue_arn))
        check("worker stores the queued orders with no failures", resp.get("batchItemFailures", []) == [], resp)
        for oid in (order_id, b64_id, keyed_id):
            item = ddb.get_item(TableName=table, Key={"order_id": {"S": oid}}).get("Item")
            check(f"order {oid[:8]} is stored as processed", item is not None and item["status"]["S"] == "processed", item)
        check("attempts come from ApproximateReceiveCount", item is not None and item["attempts"]["N"] == "1", item)
    finally:
        for proc in (watch, moto):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)

    print(f"lambda-invoke: {RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
