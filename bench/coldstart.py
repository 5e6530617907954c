#!/usr/bin/env python3
"""Cold start of each Lambda binary, through a Lambda Runtime API served on loopback.

For each function (`ingest`, `worker`, `status`) and each run, this starts the release
`bootstrap` as Lambda would (AWS_LAMBDA_RUNTIME_API pointing at this script's Runtime API,
the function's environment, a private moto server for SQS and DynamoDB, so the SDK clients
are real and each function's init opens its connection) and measures:

- ready: process start (just before fork/exec) to its first `GET .../invocation/next`
  (what Lambda reports as Init Duration: runtime start-up, config, SDK client, warm-up call);
- first response: process start to the `POST .../invocation/{id}/response` of the first
  event (events/order-valid.json, events/sqs-batch.json, events/order-get.json);
- peak RSS: VmHWM of /proc/<pid>/status after the first response, and after the warm
  invocations that follow (the process is then killed);
- warm invocations (`--warm`, default 20): event handed out to response received, for the
  billed duration a cost estimate needs (ingest: a valid order; worker: a batch of 10 new
  orders; status: a GET), and the bytes the function wrote to stdout per invocation (log
  lines and EMF metrics: what CloudWatch Logs ingests).

The first run of each function is a discarded warm-up (page cache). Runs alternate between
functions. Prints a table and, with --json FILE, writes every figure.

Usage (bench/run does this): .venv/bin/python bench/coldstart.py --bin-dir target/lambda-x86_64 --runs 20
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from lambda_invoke import start_moto  # noqa: E402  (the same private moto as the tests)
EVENTS = ROOT / "events"
FUNCTIONS = ("ingest", "worker", "status")
MEMORY_MB = 128  # the template's default for every function
BUDGET_READY_MS = 20.0
BUDGET_RSS_MB = 20.0
API = "/2018-06-01/runtime"


def now_ns():
    return time.perf_counter_ns()


class Run:
    """One process's invocations: the events to hand out and what came back."""

    def __init__(self, events):
        self.events = list(events)
        self.served = 0
        self.pid = None
        self.started_ns = None
        self.first_next_ns = None
        self.handed_ns = {}
        self.labels = {}
        self.responses = []  # (request_id, handed_ns, responded_ns, body, stdout_bytes)
        self.errors = []
        self.rss_after_first_kb = None
        self.stdout_path = None
        self.done = threading.Event()
        self.first_done = threading.Event()
        self.killed = threading.Event()
        self.lock = threading.Lock()


CURRENT = {"run": None}


def proc_status(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RuntimeApi(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        t = now_ns()
        run = CURRENT["run"]
        if self.path != f"{API}/invocation/next" or run is None:
            return self.reply(404)
        with run.lock:
            if run.first_next_ns is None:
                run.first_next_ns = t
            index = run.served
            run.served += 1
        if index >= len(run.events):
            # No more work: hold the poll, as Lambda does between invocations.
            run.done.set()
            run.killed.wait(120)
            return
        request_id = str(uuid.uuid4())
        label, event = run.events[index]
        run.labels[request_id] = label
        deadline_ms = int(time.time() * 1000) + 30_000
        headers = [
            ("Content-Type", "application/json"),
            ("Lambda-Runtime-Aws-Request-Id", request_id),
            ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"),
            ("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"),
        ]
        run.handed_ns[request_id] = now_ns()
        self.reply(200, event, headers)

    def do_POST(self):
        t = now_ns()
        run = CURRENT["run"]
        body = self.read_body()
        match = re.fullmatch(rf"{API}/invocation/([^/]+)/(response|error)", self.path)
        if run is None:
            return self.reply(404)
        if match is None:
            run.errors.append((self.path, body[:500]))
            run.first_done.set()
            run.done.set()
            return self.reply(202, b'{"status":"OK"}')
        request_id, kind = match.groups()
        stdout_bytes = os.path.getsize(run.stdout_path) if run.stdout_path else 0
        if kind == "error":
            run.errors.append((request_id, body[:500]))
        with run.lock:
            run.responses.append((request_id, run.handed_ns.get(request_id), t, body, stdout_bytes))
            first = len(run.responses) == 1
        if first:
            run.rss_after_first_kb = proc_status(run.pid, "VmHWM")
            run.first_done.set()
        self.reply(202, b'{"status":"OK"}')


def create_resources(endpoint):
    import boto3

    sqs = boto3.client("sqs", endpoint_url=endpoint)
    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    queue_url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    for name, key in (("orders", "order_id"), ("idempotency", "idempotency_key")):
        ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        )
    return queue_url


def moto_round_trips(endpoint, queue_url, n=20):
    """Median ms of each function's init call against moto, on a fresh connection each time
    (as the function's first call is): SQS SendMessageBatch with no entries (ingest),
    DynamoDB DescribeEndpoints (worker and status, since issue 16). Part of every "ready"
    figure here; in AWS it is a TLS connection to the service instead."""
    import http.client
    from urllib.parse import urlparse

    host = urlparse(endpoint)
    auth = "AWS4-HMAC-SHA256 Credential=test/20261125/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0"
    calls = {
        "ingest": ("AmazonSQS.SendMessageBatch", "application/x-amz-json-1.0", "sqs", {"QueueUrl": queue_url, "Entries": []}),
        "worker": ("DynamoDB_20120810.DescribeEndpoints", "application/x-amz-json-1.0", "dynamodb", {}),
        "status": ("DynamoDB_20120810.DescribeEndpoints", "application/x-amz-json-1.0", "dynamodb", {}),
    }
    result = {}
    for function, (target, ctype, service, body) in calls.items():
        samples = []
        payload = json.dumps(body)
        for _ in range(n):
            t = now_ns()
            conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
            conn.request("POST", "/", payload, {"X-Amz-Target": target, "Content-Type": ctype, "Authorization": auth.format(service)})
            conn.getresponse().read()
            conn.close()
            samples.append((now_ns() - t) / 1e6)
        result[function] = statistics.median(samples)
    return result


def sqs_batch(n):
    """A batch of n new, valid orders in the exact shape of Lambda's SQS event."""
    records = []
    for i in range(n):
        order_id = str(uuid.uuid4())
        body = json.dumps(
            {
                "order_id": order_id,
                "email": "jane.doe@example.com",
                "items": [{"sku": "SKU-123", "qty": 2}, {"sku": "SKU-456", "qty": 1}],
                "received_at": "2026-11-25T12:00:00Z",
            },
            separators=(",", ":"),
        )
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"receipt-{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795608000045"},
                "messageAttributes": {
                    "order_id": {"stringValue": order_id, "stringListValues": [], "binaryListValues": [], "dataType": "String"}
                },
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
                "awsRegion": "us-east-1",
            }
        )
    return json.dumps({"Records": records}).encode()


def events_for(function, warm):
    """(label, event) pairs: the committed sample first (the cold invocation), then the
    warm ones. The worker gets `warm` batches of 10 new orders, then `warm` batches of 1."""
    if function in ("ingest", "floor"):
        first = (EVENTS / "order-valid.json").read_bytes()
        return [("cold", first)] + [("warm", first)] * warm
    if function == "worker":
        first = (EVENTS / "sqs-batch.json").read_bytes()
        return (
            [("cold", first)]
            + [("warm", sqs_batch(10)) for _ in range(warm)]
            + [("warm_batch_1", sqs_batch(1)) for _ in range(warm)]
        )
    first = (EVENTS / "order-get.json").read_bytes()
    return [("cold", first)] + [("warm", first)] * warm


def function_env(function, runtime_api, endpoint, queue_url):
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        # A name as CloudFormation makes it (stack-LogicalId-suffix) and a published
        # version (AutoPublishAlias): they are on every log line, so their length counts.
        "AWS_LAMBDA_FUNCTION_NAME": f"orders-pipeline-{function.capitalize()}Function-Ab12Cd34Ef56",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_MB),
        "AWS_LAMBDA_FUNCTION_VERSION": "12",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/orders-pipeline-{function}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/25/[12]bench",
        # As the template configures them: Lambda filters nothing (TRACE), LOG_LEVEL is ours.
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "TRACE",
        "LOG_LEVEL": "INFO",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "_HANDLER": "bootstrap",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "test",
        "AWS_ENDPOINT_URL": endpoint,
        "QUEUE_URL": queue_url,
        "TABLE_NAME": "orders",
        "IDEMPOTENCY_TABLE": "idempotency",
        "PROCESSING_DELAY_MS": "0",
        "DEADLINE_MARGIN_MS": "1000",
    }


def one_run(binary, function, env, warm, workdir):
    run = Run(events_for(function, warm))
    run.stdout_path = str(workdir / f"{function}.stdout")
    CURRENT["run"] = run
    with open(run.stdout_path, "wb") as out:
        run.started_ns = now_ns()
        # close_fds=False lets subprocess use posix_spawn (vfork): the least launcher overhead.
        proc = subprocess.Popen(
            [str(binary)], env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL, close_fds=False
        )
        run.pid = proc.pid
        try:
            if not run.first_done.wait(30):
                raise RuntimeError(f"{function}: no response within 30 s; see {run.stdout_path}")
            if not run.done.wait(60):
                raise RuntimeError(f"{function}: warm invocations did not finish; see {run.stdout_path}")
            rss_peak_kb = proc_status(proc.pid, "VmHWM")
        finally:
            proc.kill()
            proc.wait()
            run.killed.set()
    CURRENT["run"] = None
    if run.errors:
        raise RuntimeError(f"{function} reported errors: {run.errors[:3]}; see {run.stdout_path}")
    first = run.responses[0]
    status = check_response(function, first[3])
    warm_ms, warm_ms_batch_1, bytes_per_warm = [], [], []
    for previous, r in zip(run.responses, run.responses[1:]):
        label = run.labels.get(r[0])
        if label == "warm":
            warm_ms.append((r[2] - r[1]) / 1e6)
            bytes_per_warm.append(r[4] - previous[4])
        elif label == "warm_batch_1":
            warm_ms_batch_1.append((r[2] - r[1]) / 1e6)
    return {
        "ready_ms": (run.first_next_ns - run.started_ns) / 1e6,
        "first_response_ms": (first[2] - run.started_ns) / 1e6,
        "first_invoke_ms": (first[2] - first[1]) / 1e6,
        "rss_after_first_mb": (run.rss_after_first_kb or 0) / 1024,
        "rss_peak_mb": (rss_peak_kb or 0) / 1024,
        "warm_ms": warm_ms,
        "warm_ms_batch_1": warm_ms_batch_1,
        "stdout_bytes_init": first[4],
        "stdout_bytes_per_warm_invoke": bytes_per_warm,
        "first_status": status,
    }


def check_response(function, body):
    data = json.loads(body)
    if function == "ingest":
        assert data["statusCode"] == 202, data
        return 202
    if function == "floor":
        assert data["statusCode"] == 200, data
        return 200
    if function == "status":
        assert data["statusCode"] in (200, 404), data
        return data["statusCode"]
    # The sample batch holds one malformed record: exactly that one fails.
    failures = [f["itemIdentifier"] for f in data.get("batchItemFailures", [])]
    assert failures == ["33333333-3333-4333-8333-333333333333"], data
    return "1 of 3 failed (as designed)"


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summarize(samples):
    return {
        "median": statistics.median(samples),
        "p90": percentile(samples, 0.9),
        "min": min(samples),
        "max": max(samples),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", default=str(ROOT / "target/lambda"), help="holds <function>/bootstrap")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warm", type=int, default=20, help="warm invocations after the first")
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--floor", help="a do-nothing function on the same runtime (runtime_floor bench binary): the floor every figure is compared with")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment for the functions (experiments)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    functions = [f for f in args.functions.split(",") if f]
    binaries = {f: Path(args.bin_dir) / f / "bootstrap" for f in functions}
    if args.floor:
        functions.append("floor")
        binaries["floor"] = Path(args.floor)
    for f, b in binaries.items():
        if not b.exists():
            raise SystemExit(f"missing {b}: build it first (bench/run does)")

    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1")
    moto, endpoint = start_moto()
    server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runtime_api = f"127.0.0.1:{server.server_address[1]}"
    results = {f: [] for f in functions}
    try:
        queue_url = create_resources(endpoint)
        moto_ms = moto_round_trips(endpoint, queue_url)
        with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
            workdir = Path(tmp)
            for f in functions:  # discarded warm-up run: page cache, moto's first requests
                one_run(binaries[f], f, function_env(f, runtime_api, endpoint, queue_url), 2, workdir)
            for i in range(args.runs):
                for f in functions:
                    env = function_env(f, runtime_api, endpoint, queue_url)
                    env.update(kv.split("=", 1) for kv in args.env)
                    results[f].append(one_run(binaries[f], f, env, args.warm, workdir))
    finally:
        server.shutdown()
        os.killpg(moto.pid, signal.SIGTERM)
        moto.wait(timeout=10)

    report = {"runs": args.runs, "warm_invocations": args.warm, "memory_mb": MEMORY_MB, "moto_init_call_ms": moto_ms, "functions": {}}
    print("moto round trip of each function's init call (median ms, new connection): " + ", ".join(f"{k} {v:.2f}" for k, v in moto_ms.items()))
    print(f"{'function':8} {'ready ms (median/p90)':>22} {'1st response ms':>18} {'peak RSS MB':>12} {'warm ms (median/p90)':>21} {'log B/invoke':>12}")
    for f in functions:
        rs = results[f]
        ready = summarize([r["ready_ms"] for r in rs])
        first = summarize([r["first_response_ms"] for r in rs])
        rss = summarize([r["rss_peak_mb"] for r in rs])
        rss_first = summarize([r["rss_after_first_mb"] for r in rs])
        warm = summarize([w for r in rs for w in r["warm_ms"]])
        log_bytes = statistics.median([b for r in rs for b in r["stdout_bytes_per_warm_invoke"]])
        report["functions"][f] = {
            "binary": str(binaries[f]),
            "binary_bytes": binaries[f].stat().st_size,
            "ready_ms": ready,
            "first_response_ms": first,
            "rss_after_first_mb": rss_first,
            "rss_peak_mb": rss,
            "warm_invoke_ms": warm,
            "log_bytes_per_warm_invoke": log_bytes,
            "first_status": rs[0]["first_status"],
            **(
                {"warm_invoke_ms_batch_1": summarize([w for r in rs for w in r["warm_ms_batch_1"]])}
                if rs[0]["warm_ms_batch_1"]
                else {}
            ),
            "samples": rs,
        }
        print(
            f"{f:8} {ready['median']:10.1f} / {ready['p90']:7.1f} {first['median']:10.1f} / {first['p90']:5.1f}"
            f" {rss['max']:12.1f} {warm['median']:10.2f} / {warm['p90']:7.2f} {log_bytes:12.0f}"
        )
        ok = ready["p90"] < BUDGET_READY_MS and rss["max"] < BUDGET_RSS_MB
        print(f"         budget ready < {BUDGET_READY_MS:.0f} ms (p90) and RSS < {BUDGET_RSS_MB:.0f} MB (max): {'PASS' if ok else 'FAIL'}")
    if "floor" in report["functions"]:
        fl = report["functions"]["floor"]
        for f in functions:
            fn = report["functions"][f]
            fn["ratio_to_floor"] = {
                "ready_median": fn["ready_ms"]["median"] / fl["ready_ms"]["median"],
                "first_response_median": fn["first_response_ms"]["median"] / fl["first_response_ms"]["median"],
                "rss_peak_max": fn["rss_peak_mb"]["max"] / fl["rss_peak_mb"]["max"],
            }
            r = fn["ratio_to_floor"]
            print(f"{f:8} vs floor: ready x{r['ready_median']:.2f}, first response x{r['first_response_median']:.2f}, peak RSS x{r['rss_peak_max']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
