#!/usr/bin/env python3
"""Turns bench/run's raw outputs (target/bench-out/) into bench/results.json and the
generated part of bench/RESULTS.md (between the `generated` markers; the text around them
is kept). Pure Python, no dependencies.

    python3 bench/report.py [target/bench-out]
"""

import json
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
START = "<!-- generated:start (bench/report.py rewrites this part; edit around it) -->"
END = "<!-- generated:end -->"

BUDGET_READY_MS = 20.0
BUDGET_RSS_MB = 20.0
TARGET_ACCEPTED = 0.70
TARGET_STORED = 0.80
TARGET_BATCH = 1.05  # a batch of 10 takes at most 5% longer than its longest record

UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine(out):
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    loads = []
    path = out / "load.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            phase, *values = line.split()
            loads.append({"phase": phase, "load1": float(values[0]), "load5": float(values[1]), "load15": float(values[2])})
    date = (out / "date.txt").read_text().strip() if (out / "date.txt").exists() else sh("date", "-u", "+%Y-%m-%dT%H:%M:%SZ")
    return {
        "date": date,
        "nproc": int(sh("nproc") or 0),
        "cpu": cpu,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "rustc": sh("rustc", "--version"),
        "cargo_lambda": sh("cargo", "lambda", "--version"),
        "load": loads,
    }


def to_ns(text):
    m = re.match(r"\s*([\d.]+)\s*(ps|ns|µs|us|ms|s)\s*$", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def divan(path):
    """{bench: {name: {fastest, median, mean, slowest (ns), samples, iters}}} from divan's table."""
    if not path.exists():
        return {}
    results = {}
    for line in path.read_text().splitlines():
        if "│" not in line:
            continue
        cols = [c.strip() for c in line.split("│")]
        m = re.match(r"^[├╰└│ ─]*\s*(\w+)\s+(.+)$", cols[0])
        if not m or len(cols) < 6 or cols[1] == "slowest":
            continue
        name, fastest = m.group(1), m.group(2)
        values = [to_ns(fastest), to_ns(cols[1]), to_ns(cols[2]), to_ns(cols[3])]
        if None in values:
            continue
        results[name] = {
            "fastest_ns": values[0],
            "slowest_ns": values[1],
            "median_ns": values[2],
            "mean_ns": values[3],
            "samples": int(cols[4]),
            "iters": int(cols[5]),
        }
    return results


def result_line(path):
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return None


def fmt_ns(ns):
    if ns is None:
        return "-"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def verdict(ok):
    return "**pass**" if ok else "**FAIL**"


def median(values):
    return statistics.median(values) if values else float("nan")


def median_rep(reps, ratios):
    """The repetition whose ratio is the median (the lower middle one for an even count)."""
    order = sorted(range(len(reps)), key=lambda i: ratios[i])
    return reps[order[(len(order) - 1) // 2]]


def collect(out):
    data = {"machine": machine(out)}
    for name in ("sizes", "coldstart"):
        p = out / f"{name}.json"
        if p.exists():
            data[name] = json.loads(p.read_text())
    if (out / "deps.txt").exists():
        data["sdk_deps"] = (out / "deps.txt").read_text().strip().splitlines()
    data["hot_paths"] = {}
    for bench in ("hot_paths", "ingest_request", "worker_record"):
        data["hot_paths"][bench] = divan(out / f"{bench}.txt")
    data["batch_concurrency"] = result_line(out / "batch_concurrency.txt")
    data["pipeline_throughput"] = result_line(out / "pipeline_throughput.txt")
    return data


def summary_rows(data):
    rows = []
    cold = data.get("coldstart", {}).get("functions", {})
    floor = cold.get("floor")
    for f in ("ingest", "worker", "status"):
        if f not in cold:
            continue
        c = cold[f]
        ready = c["ready_ms"]["p90"]
        floor_txt = f"; floor {floor['ready_ms']['p90']:.1f} ms (x{ready / floor['ready_ms']['p90']:.2f})" if floor else ""
        rows.append((f"cold start, {f}: ready (p90 of {data['coldstart']['runs']})", f"{ready:.1f} ms", f"budget {BUDGET_READY_MS:.0f} ms{floor_txt}", ready / BUDGET_READY_MS, "< 1", verdict(ready < BUDGET_READY_MS)))
        rss = c["rss_peak_mb"]["max"]
        floor_txt = f"; floor {floor['rss_peak_mb']['max']:.1f} MB (x{rss / floor['rss_peak_mb']['max']:.2f})" if floor else ""
        rows.append((f"cold start, {f}: peak RSS (max)", f"{rss:.1f} MB", f"budget {BUDGET_RSS_MB:.0f} MB{floor_txt}", rss / BUDGET_RSS_MB, "< 1", verdict(rss < BUDGET_RSS_MB)))
    b = data.get("batch_concurrency")
    if b:
        ratios = [r["total_ms"] / r["longest_ms"] for r in b["rounds"]]
        worst = max(ratios)
        total = median([r["total_ms"] for r in b["rounds"]])
        longest = median([r["longest_ms"] for r in b["rounds"]])
        rows.append((f"batch of 10, {b['delay']} ms delays: total (median of {len(ratios)})", f"{total:.0f} ms", f"longest record {longest:.0f} ms (sum {median([r['sum_ms'] for r in b['rounds']]):.0f} ms)", worst, f"<= {TARGET_BATCH}", verdict(worst <= TARGET_BATCH)))
    p = data.get("pipeline_throughput")
    if p:
        # Each row shows the repetition whose ratio is the median, so its figure and ceiling
        # are one pair measured together (medians taken apart would not give the ratio shown).
        acc = [a["accepted_per_s"] / a["noop_per_s"] for a in p["accepted"]]
        a = median_rep(p["accepted"], acc)
        rows.append((f"accepted orders/s at the API, over the embedded queue (median of {len(acc)}; range {min(acc):.2f}-{max(acc):.2f})", f"{a['accepted_per_s']:.0f}/s", f"no-op route {a['noop_per_s']:.0f}/s", median(acc), f">= {TARGET_ACCEPTED}", verdict(median(acc) >= TARGET_ACCEPTED)))
        if all("pipeline_per_s" in a for a in p["accepted"]):
            whole = [a["pipeline_per_s"] / a["noop_per_s"] for a in p["accepted"]]
            w_ = median_rep(p["accepted"], whole)
            rows.append((f"accepted orders/s, whole pipeline storing on the same 2 cores (median of {len(whole)}; information)", f"{w_['pipeline_per_s']:.0f}/s", f"no-op route {w_['noop_per_s']:.0f}/s", median(whole), "-", "-"))
        st = [s["stored_per_s"] / s["raw_putitem_per_s"] for s in p["stored"]]
        s_ = median_rep(p["stored"], st)
        rows.append((f"stored orders/s (median of {len(st)}; range {min(st):.2f}-{max(st):.2f})", f"{s_['stored_per_s']:.0f}/s", f"raw PutItem {s_['raw_putitem_per_s']:.0f}/s", median(st), f">= {TARGET_STORED}", verdict(median(st) >= TARGET_STORED)))
    return rows


def render(data):
    m = data["machine"]
    lines = []
    w = lines.append
    w(f"Measured {m['date']} by `bench/run`.")
    w("")
    w("### Machine")
    w("")
    w("| nproc | CPU | memory | kernel | rustc | cargo-lambda |")
    w("|---|---|---|---|---|---|")
    w(f"| {m['nproc']} | {m['cpu']} | {m['memory_gb']} GB | {m['kernel']} | {m['rustc']} | {m['cargo_lambda']} |")
    if m["load"]:
        w("")
        w("Load average (1 / 5 / 15 min) when each phase started (the machine is shared with other builds; "
          "this is why every figure is given as a ratio to a ceiling measured in the same run):")
        w("")
        w("| phase | " + " | ".join(l["phase"] for l in m["load"]) + " |")
        w("|---|" + "---|" * len(m["load"]))
        w("| load | " + " | ".join(f"{l['load1']:.2f} / {l['load5']:.2f} / {l['load15']:.2f}" for l in m["load"]) + " |")
    w("")
    w("### Summary: each figure against its ceiling or budget, measured in the same run")
    w("")
    w("| figure | measured | ceiling / budget | ratio | target | result |")
    w("|---|---:|---|---:|---|---|")
    for name, value, ref, ratio, target, ok in summary_rows(data):
        w(f"| {name} | {value} | {ref} | {ratio:.3f} | {target} | {ok} |")

    sizes = data.get("sizes")
    if sizes:
        w("")
        w("### Binary sizes (`cargo lambda build --release`, the `bootstrap` that `sam build` ships)")
        w("")
        w("| function | " + " | ".join(f"{a} bootstrap | {a} zip" for a in sizes["arches"]) + " |")
        w("|---|" + "---:|---:|" * len(sizes["arches"]))
        for f in ("ingest", "worker", "status"):
            cells = []
            for a in sizes["arches"]:
                s = sizes["functions"].get(a, {}).get(f)
                cells += [f"{s['bytes'] / 2**20:.2f} MiB" if s else "-", f"{s['zip_bytes'] / 2**20:.2f} MiB" if s else "-"]
            w(f"| {f} | " + " | ".join(cells) + " |")
        w("")
        w(f"Release profile: `{sizes.get('profile', '')}`. SDK clients found in each binary (service ids in its strings): "
          + "; ".join(f"{a} {f}: {', '.join(s['sdk_clients']) or 'none'}" for a in sizes["arches"] for f, s in sizes["functions"].get(a, {}).items()) + ".")

    hp = data.get("hot_paths", {})
    if any(hp.values()):
        w("")
        w("### Hot paths (divan, per call; `cargo bench --workspace --all-features --bench <name>`)")
        w("")
        w("| bench | case | median | fastest | mean | samples x iters |")
        w("|---|---|---:|---:|---:|---|")
        for bench, cases in hp.items():
            for case, r in cases.items():
                w(f"| {bench} | {case} | {fmt_ns(r['median_ns'])} | {fmt_ns(r['fastest_ns'])} | {fmt_ns(r['mean_ns'])} | {r['samples']} x {r['iters']} |")

    cold = data.get("coldstart")
    if cold:
        w("")
        w(f"### Cold start ({cold['runs']} runs per function, {cold['warm_invocations']} warm invocations each; x86_64 build; Runtime API on loopback, moto for SQS/DynamoDB)")
        w("")
        moto = cold.get("moto_init_call_ms", {})
        if moto:
            w("moto's answer to each function's init call (a new connection, median): "
              + ", ".join(f"{k} {v:.1f} ms" for k, v in moto.items())
              + ". It is part of `ready`; `own init` is ready (median) minus it.")
            w("")
        w("| function | ready median / p90 | own init | first response median / p90 | peak RSS max | RSS after 1st response | warm invoke median / p90 | stdout bytes per warm invoke | vs floor (ready / 1st response / RSS) |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for f, c in cold["functions"].items():
            r = c.get("ratio_to_floor")
            rtxt = f"x{r['ready_median']:.2f} / x{r['first_response_median']:.2f} / x{r['rss_peak_max']:.2f}" if r else "-"
            extra = ""
            if "warm_invoke_ms_batch_1" in c:
                extra = f" (batch of 10; batch of 1: {c['warm_invoke_ms_batch_1']['median']:.2f})"
            own = f"{c['ready_ms']['median'] - moto[f]:.1f} ms" if f in moto else "-"
            w(f"| {f} | {c['ready_ms']['median']:.1f} / {c['ready_ms']['p90']:.1f} ms | {own} | {c['first_response_ms']['median']:.1f} / {c['first_response_ms']['p90']:.1f} ms"
              f" | {c['rss_peak_mb']['max']:.1f} MB | {c['rss_after_first_mb']['max']:.1f} MB | {c['warm_invoke_ms']['median']:.2f} / {c['warm_invoke_ms']['p90']:.2f} ms{extra}"
              f" | {c['log_bytes_per_warm_invoke']:.0f} | {rtxt} |")

    b = data.get("batch_concurrency")
    if b:
        w("")
        w(f"### Worker batch concurrency (10 records, `PROCESSING_DELAY_MS={b['delay']}`, real clock)")
        w("")
        w("| round | batch took | longest record | sum of records | took / longest |")
        w("|---|---:|---:|---:|---:|")
        for i, r in enumerate(b["rounds"], 1):
            w(f"| {i} | {r['total_ms']:.1f} ms | {r['longest_ms']} ms | {r['sum_ms']} ms | {r['total_ms'] / r['longest_ms']:.4f} |")

    p = data.get("pipeline_throughput")
    if p:
        w("")
        w(f"### End to end on `orders local` (in memory, no simulated delay; {p['connections']} connections, {p['seconds']} s windows; "
          f"{p['orders']} orders drained; batch {p['batch_size']}, max concurrency {p['max_concurrency']}, {p['in_flight_puts']} puts in flight)")
        w("")
        w("Accepted at the API (closed loop; `cpu µs` is the whole process's CPU time per answered request, load generator included):")
        w("")
        w("| rep | no-op route/s (cpu µs) | **API over the embedded queue**/s (ratio; cpu µs) | API over a `Vec` queue/s (ratio; cpu µs) | API over the queue in a file/s (ratio; cpu µs) | whole pipeline/s (ratio; cpu µs) | stored meanwhile/s |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for i, a in enumerate(p["accepted"], 1):
            cpu = a.get("cpu_us", {})
            def cell(rate, key):
                c = cpu.get(key)
                return f"{rate:.0f} ({rate / a['noop_per_s']:.3f}" + (f"; {c:.0f})" if c is not None else ")")
            w(f"| {i} | {a['noop_per_s']:.0f}" + (f" ({cpu['noop']:.0f})" if "noop" in cpu else "")
              + f" | **{cell(a['accepted_per_s'], 'api_sqlite_queue')}** | {cell(a.get('api_memory_queue_per_s', float('nan')), 'api_memory_queue')}"
              + f" | {cell(a.get('api_durable_queue_per_s', float('nan')), 'api_durable_queue')} | {cell(a.get('pipeline_per_s', float('nan')), 'pipeline')} | {a['stored_during_per_s']:.0f} |")
        w("")
        w("Stored (a backlog of orders drained by the poller and worker; `cpu µs` per order):")
        w("")
        w("| rep | raw PutItem/s (cpu µs) | conditional PutItem/s | **stored**/s (cpu µs) | ratio to raw PutItem |")
        w("|---|---:|---:|---:|---:|")
        for i, st in enumerate(p["stored"], 1):
            rc = f" ({st['raw_putitem_cpu_us']:.0f})" if "raw_putitem_cpu_us" in st else ""
            sc = f" ({st['stored_cpu_us']:.0f})" if "stored_cpu_us" in st else ""
            w(f"| {i} | {st['raw_putitem_per_s']:.0f}{rc} | {st['conditional_putitem_per_s']:.0f} | **{st['stored_per_s']:.0f}{sc}** | {st['stored_per_s'] / st['raw_putitem_per_s']:.3f} |")
        if any(a["non_202"] for a in p["accepted"]):
            w("")
            w(f"Non-202 answers during the windows: {[a['non_202'] for a in p['accepted']]}.")

    if data.get("sdk_deps"):
        w("")
        w("### Dependency check (`bench/check-sdk-deps`)")
        w("")
        w("```")
        lines.extend(data["sdk_deps"])
        w("```")

    w("")
    w("### Cost per million orders (`python3 bench/cost.py --markdown`, from the durations above)")
    w("")
    cost = subprocess.run([sys.executable, str(BENCH / "cost.py"), "--markdown"], capture_output=True, text=True, cwd=ROOT)
    lines.extend(cost.stdout.rstrip().splitlines())
    return "\n".join(lines)


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target/bench-out"
    data = collect(out)
    (BENCH / "results.json").write_text(json.dumps(strip_samples(data), indent=1) + "\n")
    text = render(data)
    path = BENCH / "RESULTS.md"
    old = path.read_text() if path.exists() else f"# Benchmark results (issue 7)\n\n{START}\n{END}\n"
    if START not in old or END not in old:
        old = old.rstrip() + f"\n\n{START}\n{END}\n"
    head, rest = old.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}")
    print(f"wrote {path.relative_to(ROOT)} and bench/results.json")
    for name, value, ref, ratio, target, ok in summary_rows(data):
        print(f"  {name}: {value} vs {ref}: ratio {ratio:.3f} (target {target}) {ok.strip('*')}")


def strip_samples(data):
    """results.json keeps summaries, not every sample."""
    data = json.loads(json.dumps(data))
    for c in data.get("coldstart", {}).get("functions", {}).values():
        c.pop("samples", None)
    return data


if __name__ == "__main__":
    main()
