#!/usr/bin/env python3
"""Cost per million orders on AWS, from measured durations and memory (issue 7).

Pure Python, no dependencies. Defaults come from bench/results.json (written by bench/run:
the warm invocation durations and log bytes measured by bench/coldstart.py) and from the
template's default configuration (arm64, 128 MB each, BatchSize 10, no simulated delay);
every input can be overridden with a flag.

    python3 bench/cost.py                      # the default configuration, one table
    python3 bench/cost.py --sweep              # plus how batch size, memory and delay change it
    python3 bench/cost.py --batch-size 1 --worker-memory 256 --arch x86_64
    python3 bench/cost.py --markdown --sweep   # the tables as they appear in README.md

What one order costs:
- API Gateway (REST): 1 request.
- Lambda ingest: 1 request, and its billed duration (rounded up to 1 ms) x its memory.
- Lambda worker: 1 request per batch, and the batch's billed duration x its memory.
- SQS (standard; every 64 KB of payload is one request, an order is far smaller):
  SendMessage 1 per order; ReceiveMessage 1 per batch per 10 messages (the event source
  mapping receives up to 10 per call); DeleteMessageBatch 1 per batch per 10 messages
  (the mapping deletes what succeeded in batches). Empty long polls of the mapping's
  pollers are a fixed monthly cost, not a per-order one (see --help of --pollers).
- DynamoDB on-demand: 1 write request unit per PutItem of an item up to 1 KB (a stored
  order is about 0.3 KB; see --item-bytes). An order sent with an Idempotency-Key adds
  a conditional PutItem and an UpdateItem on the idempotency table: 2 more WRUs.
Not in the issue's list, shown below the total because they are real: CloudWatch Logs
ingestion of what the functions print (JSON logs and EMF metrics, bytes measured) and
X-Ray traces (Tracing: Active; the default sampling rule records 1 request per second
plus 5% of the rest).
"""

import argparse
import json
import math
import sys
from pathlib import Path

# On-demand prices, US East (N. Virginia), first pricing tier, without the free tier, as
# published on the AWS pricing pages (api-gateway, lambda, sqs, dynamodb, cloudwatch, xray).
# PRICE_DATE is the date of the newest change among them: DynamoDB's on-demand throughput
# price cut (50%) took effect on 2024-11-01; the others were unchanged then. Not fetched at
# run time (the script works offline): check the pages before quoting a bill.
PRICE_DATE = "2024-11-01"
PRICE_SOURCE = "AWS on-demand prices, us-east-1, first tier, no free tier"
PRICES = {
    "apigw_rest_per_million": 3.50,  # REST API, first 333 million requests a month
    "lambda_requests_per_million": 0.20,
    "lambda_gb_s": {"arm64": 0.0000133334, "x86_64": 0.0000166667},  # first 7.5 / 6 billion GB-s
    "sqs_standard_per_million": 0.40,  # first 100 billion requests a month; 64 KB chunks
    "dynamodb_wru_per_million": 0.625,  # on-demand write request units (since 2024-11-01)
    "cloudwatch_logs_per_gb": 0.50,  # standard log class, ingestion
    "xray_traces_per_million": 5.00,  # traces recorded
}

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results.json"

# Used when bench/results.json is missing: typical figures of bench/run on a 2-core machine.
FALLBACK = {
    "ingest_ms": 3.0,
    "worker_ms_batch_1": 3.0,
    "worker_ms_batch_10": 12.0,
    "ingest_log_bytes": 1200,
    "worker_log_bytes_batch_10": 6000,
}

DEFAULTS = {
    "arch": "arm64",
    "ingest_memory": 128,
    "worker_memory": 128,
    "batch_size": 10,
    "delay": "0",
    "item_bytes": 330,
    "idempotency_share": 0.0,
    "xray_share": 0.05,
    # Lambda's own JSON lines per invocation at SystemLogLevel=INFO (the template's default):
    # platform.start (~130 B) and platform.report (~370 B: duration, billed duration,
    # memory size, max memory used, trace). Sizes built from the documented record schema;
    # only a deployed stack shows the exact bytes. 0 with SystemLogLevel=WARN.
    "system_log_bytes": 500,
}


def measured():
    """Warm durations and log bytes from bench/results.json, or the fallback."""
    figures = dict(FALLBACK)
    source = "built-in fallback (bench/results.json not found)"
    if RESULTS.exists():
        data = json.loads(RESULTS.read_text())
        cold = data.get("coldstart", {}).get("functions", {})
        if "ingest" in cold and "worker" in cold:
            figures["ingest_ms"] = cold["ingest"]["warm_invoke_ms"]["median"]
            figures["ingest_log_bytes"] = cold["ingest"]["log_bytes_per_warm_invoke"]
            worker = cold["worker"]
            figures["worker_ms_batch_10"] = worker["warm_invoke_ms"]["median"]
            figures["worker_log_bytes_batch_10"] = worker["log_bytes_per_warm_invoke"]
            if "warm_invoke_ms_batch_1" in worker:
                figures["worker_ms_batch_1"] = worker["warm_invoke_ms_batch_1"]["median"]
            source = f"bench/results.json ({data.get('machine', {}).get('date', 'undated')})"
    return figures, source


def parse_delay(spec):
    """(low, high) ms of PROCESSING_DELAY_MS: '0', '250' or '2000-5000'."""
    if "-" in spec:
        lo, hi = spec.split("-", 1)
        return float(lo), float(hi)
    return float(spec), float(spec)


def worker_batch_ms(figures, batch, delay):
    """Duration of one worker invocation with `batch` records.

    Without delay: the line through the measured batches of 1 and 10. With a simulated delay drawn uniformly from [lo, hi] per record, the records
    run concurrently, so the batch takes its longest delay: E[max of n uniforms] =
    lo + (hi - lo) * n / (n + 1).
    """
    one, ten = figures["worker_ms_batch_1"], figures["worker_ms_batch_10"]
    per_record = max((ten - one) / 9.0, 0.0)
    lo, hi = parse_delay(delay)
    longest = lo + (hi - lo) * batch / (batch + 1.0)
    return one + per_record * (batch - 1) + longest


def billed_ms(ms):
    return max(1, math.ceil(ms - 1e-9))


def cost_per_million(figures, cfg):
    """Rows of (component, detail, units per order, $ per million orders) and the totals."""
    n = 1_000_000
    b = cfg["batch_size"]
    batches = n / b
    calls_per_batch = math.ceil(b / 10)
    gb_s_price = PRICES["lambda_gb_s"][cfg["arch"]]
    ingest_ms = billed_ms(figures["ingest_ms"])
    worker_ms = billed_ms(worker_batch_ms(figures, b, cfg["delay"]))
    ingest_gb_s = n * ingest_ms / 1000 * cfg["ingest_memory"] / 1024
    worker_gb_s = batches * worker_ms / 1000 * cfg["worker_memory"] / 1024
    sqs_requests = n + 2 * batches * calls_per_batch
    wru = n * math.ceil(cfg["item_bytes"] / 1024) + n * cfg["idempotency_share"] * 2
    m = PRICES
    rows = [
        ("API Gateway REST", "1 request per order", n, n / 1e6 * m["apigw_rest_per_million"]),
        ("Lambda ingest requests", "1 per order", n, n / 1e6 * m["lambda_requests_per_million"]),
        (
            "Lambda ingest duration",
            f"{ingest_ms} ms billed x {cfg['ingest_memory']} MB = {ingest_gb_s:,.0f} GB-s",
            ingest_gb_s,
            ingest_gb_s * gb_s_price,
        ),
        ("Lambda worker requests", f"1 per batch of {b}", batches, batches / 1e6 * m["lambda_requests_per_million"]),
        (
            "Lambda worker duration",
            f"{worker_ms} ms billed per batch x {cfg['worker_memory']} MB = {worker_gb_s:,.0f} GB-s",
            worker_gb_s,
            worker_gb_s * gb_s_price,
        ),
        (
            "SQS requests",
            f"send 1/order, receive + delete {calls_per_batch}/batch each = {sqs_requests / n:.2f}/order",
            sqs_requests,
            sqs_requests / 1e6 * m["sqs_standard_per_million"],
        ),
        (
            "DynamoDB writes",
            f"{math.ceil(cfg['item_bytes'] / 1024)} WRU/order"
            + (f" + 2 WRU x {cfg['idempotency_share']:.0%} with Idempotency-Key" if cfg["idempotency_share"] else ""),
            wru,
            wru / 1e6 * m["dynamodb_wru_per_million"],
        ),
    ]
    total = sum(r[3] for r in rows)
    log_bytes = n * figures["ingest_log_bytes"] + batches * figures["worker_log_bytes_batch_10"] * b / 10
    system_bytes = (n + batches) * cfg["system_log_bytes"]
    traces = n * cfg["xray_share"]
    extras = [
        (
            "CloudWatch Logs",
            f"{log_bytes / n:,.0f} B/order of JSON logs + EMF = {log_bytes / 1e9:.2f} GB",
            log_bytes,
            log_bytes / 1e9 * m["cloudwatch_logs_per_gb"],
        ),
        (
            "CloudWatch Logs (Lambda's)",
            f"{system_bytes / n:,.0f} B/order of START/REPORT lines (SystemLogLevel=INFO) = {system_bytes / 1e9:.2f} GB",
            system_bytes,
            system_bytes / 1e9 * m["cloudwatch_logs_per_gb"],
        ),
        (
            "X-Ray traces",
            f"{cfg['xray_share']:.0%} of requests sampled",
            traces,
            traces / 1e6 * m["xray_traces_per_million"],
        ),
    ]
    return rows, total, extras, total + sum(e[3] for e in extras)


def print_table(rows, total, extras, grand, markdown):
    if markdown:
        print("| component | what is counted | $ per million orders |")
        print("|---|---|---:|")
        for name, detail, _units, dollars in rows:
            print(f"| {name} | {detail} | {dollars:.4f} |")
        print(f"| **total (issue's components)** | | **{total:.4f}** |")
        for name, detail, _units, dollars in extras:
            print(f"| + {name} | {detail} | {dollars:.4f} |")
        print(f"| **total with logs and traces** | | **{grand:.4f}** |")
        return
    width = max(len(r[1]) for r in rows + extras)
    for name, detail, _units, dollars in rows:
        print(f"  {name:24} {detail:{width}}  ${dollars:8.4f}")
    print(f"  {'total':24} {'':{width}}  ${total:8.4f}")
    for name, detail, _units, dollars in extras:
        print(f"+ {name:24} {detail:{width}}  ${dollars:8.4f}")
    print(f"  {'total with logs, traces':24} {'':{width}}  ${grand:8.4f}")


def sweep(figures, base, markdown):
    batches = [1, 5, 10, 100]
    memories = [128, 256, 512, 1024]
    for delay in ("0", "2000-5000"):
        title = f"Total $ per million orders (issue's components), {base['arch']}, delay {delay} ms, ingest {base['ingest_memory']} MB; rows: worker memory, columns: batch size"
        print()
        print(("**" + title + "**") if markdown else title)
        if markdown:
            print()
            print("| worker MB | " + " | ".join(f"batch {b}" for b in batches) + " |")
            print("|---:|" + "---:|" * len(batches))
        else:
            print("  worker MB " + "".join(f"{'batch ' + str(b):>12}" for b in batches))
        for mem in memories:
            cells = []
            for b in batches:
                cfg = dict(base, worker_memory=mem, batch_size=b, delay=delay)
                _rows, total, _extras, _grand = cost_per_million(figures, cfg)
                cells.append(total)
            if markdown:
                print(f"| {mem} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
            else:
                print(f"  {mem:9} " + "".join(f"{c:12.3f}" for c in cells))
    title = "Ingest memory (the API side), delay 0, batch 10: total $ per million orders"
    print()
    print(("**" + title + "**") if markdown else title)
    if markdown:
        print()
        print("| ingest MB | " + " | ".join(str(m) for m in memories) + " |")
        print("|---|" + "---:|" * len(memories))
    cells = []
    for mem in memories:
        cfg = dict(base, ingest_memory=mem)
        cells.append(cost_per_million(figures, cfg)[1])
    if markdown:
        print("| total | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    else:
        print("  ingest MB " + "".join(f"{m:>12}" for m in memories))
        print("  total     " + "".join(f"{c:12.3f}" for c in cells))


def main(argv=None):
    figures, source = measured()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=["arm64", "x86_64"], default=DEFAULTS["arch"])
    p.add_argument("--ingest-memory", type=int, default=DEFAULTS["ingest_memory"], help="MB")
    p.add_argument("--worker-memory", type=int, default=DEFAULTS["worker_memory"], help="MB")
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], help="records per worker invocation (full batches assumed)")
    p.add_argument("--delay", default=DEFAULTS["delay"], help="PROCESSING_DELAY_MS: 0, 250 or 2000-5000")
    p.add_argument("--ingest-ms", type=float, default=figures["ingest_ms"], help="ingest invocation duration, ms")
    p.add_argument("--worker-ms-batch-1", type=float, default=figures["worker_ms_batch_1"], help="worker duration for 1 record, ms")
    p.add_argument("--worker-ms-batch-10", type=float, default=figures["worker_ms_batch_10"], help="worker duration for 10 records, ms")
    p.add_argument("--item-bytes", type=int, default=DEFAULTS["item_bytes"], help="size of a stored order item")
    p.add_argument("--idempotency-share", type=float, default=DEFAULTS["idempotency_share"], help="share of orders sent with an Idempotency-Key (0-1)")
    p.add_argument("--xray-share", type=float, default=DEFAULTS["xray_share"], help="share of requests X-Ray records")
    p.add_argument("--pollers", type=int, default=5, help="event source pollers (fixed cost of empty long polls, shown for information)")
    p.add_argument("--sweep", action="store_true", help="also print how batch size, memory and delay change the total")
    p.add_argument("--ingest-log-bytes", type=float, default=figures["ingest_log_bytes"], help="bytes the ingest writes per request (logs + EMF)")
    p.add_argument("--worker-log-bytes-batch-10", type=float, default=figures["worker_log_bytes_batch_10"], help="bytes the worker writes per batch of 10")
    p.add_argument("--system-log-bytes", type=float, default=DEFAULTS["system_log_bytes"], help="Lambda's START/REPORT bytes per invocation (0 at SystemLogLevel=WARN)")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--json", action="store_true", help="print only the totals as JSON (what `orders plan` reads)")
    a = p.parse_args(argv)
    figures.update(
        ingest_ms=a.ingest_ms,
        worker_ms_batch_1=a.worker_ms_batch_1,
        worker_ms_batch_10=a.worker_ms_batch_10,
        ingest_log_bytes=a.ingest_log_bytes,
        worker_log_bytes_batch_10=a.worker_log_bytes_batch_10,
    )
    cfg = {
        "arch": a.arch,
        "ingest_memory": a.ingest_memory,
        "worker_memory": a.worker_memory,
        "batch_size": a.batch_size,
        "delay": a.delay,
        "item_bytes": a.item_bytes,
        "idempotency_share": a.idempotency_share,
        "xray_share": a.xray_share,
        "system_log_bytes": a.system_log_bytes,
    }
    rows, total, extras, grand = cost_per_million(figures, cfg)
    if a.json:
        print(json.dumps({
            "per_million": round(total, 4),
            "per_million_with_logs": round(grand, 4),
            "prices": f"{PRICE_SOURCE}, as of {PRICE_DATE}; durations from {source}",
        }))
        return 0
    header = (
        f"Cost per million orders: {a.arch}, ingest {a.ingest_memory} MB ({figures['ingest_ms']:.2f} ms measured), "
        f"worker {a.worker_memory} MB, batch {a.batch_size}, delay {a.delay} ms "
        f"(worker {worker_batch_ms(figures, a.batch_size, a.delay):.2f} ms per batch)"
    )
    print(("*" + header + "*\n") if a.markdown else header)
    print_table(rows, total, extras, grand, a.markdown)
    polls = a.pollers * 3 * 60 * 24 * 30  # a 20 s long poll each, around the clock
    note = (
        f"Durations from {source}. Prices: {PRICE_SOURCE}, as of {PRICE_DATE}. "
        f"Fixed, not per order: {a.pollers} pollers' empty 20 s long polls, about {polls / 1e6:.2f} M "
        f"SQS requests (${polls / 1e6 * PRICES['sqs_standard_per_million']:.2f}) a month while idle."
    )
    print()
    print(note)
    if a.sweep:
        sweep(figures, cfg, a.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
