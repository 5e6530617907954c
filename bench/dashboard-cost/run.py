#!/usr/bin/env python3
"""Issue 17: what an open dashboard (`orders local`'s /_local/) costs the API.

Requirement: the dashboard "costs the API under 2% of its accepted rate while open
(measured)". Two measurements, in the same run, on the release build of `orders`:

(b) CPU per poll, by table size. A fresh `orders local --in-memory --port 0` (limits off)
    per table size (default 0, 1k, 2k, 5k, 10k, 20k stored orders, filled with `orders load`
    and drained first): windows of back-to-back page polls (what the page requests each
    second: GET /_local/dashboard.json?since=<last point>, plus GET /_local/dlq when the
    DLQ depth changes), alternating with idle windows of the same wall time (the sampler
    runs in both: it samples whether or not a page is open). CPU = utime + stime of the
    server from /proc/<pid>/stat. Then, on the same server at the same size, a saturating
    `orders load --count N`: the server's CPU over the load / orders accepted (= CPU per
    accepted order) and accepted / elapsed (= the accepted rate).
        share = polls/s x CPU per poll / (CPU per order x accepted rate)
    is the part of the API's capacity one open page takes (polls/s = 1: the page polls
    once a second, plus the time the poll takes). The 2% limit is checked per size, and
    the size where the share reaches 2% is interpolated between the sizes measured.

(a) Accepted rate at saturation without and with a page open. A fresh server per run
    (the table grows during a run from 0 to what the run stores; optionally pre-filled
    with --prefill, default 0 and 10k: one set of rounds each). `orders load --rate 5000
    --count 9000 --json`: far above the capacity (about 900/s here), so the load saturates
    the API for about 10 s whatever the machine's speed that day; the accepted rate is
    orders accepted / the run's elapsed time. Conditions: `none`,
    `page` (the page emulated: exactly its requests, once a second), `chromium` (a real
    headless Chromium on /_local/, through the distribution's chromedriver; its own CPU
    is reported separately: it shares the same cores, which is what a laptop user sees).
    Conditions rotate across rounds (a Latin square) to cancel drift; each run records
    the load average and the CPU that other processes took meanwhile (/proc/stat busy
    minus ours); a run disturbed by other processes is run again.

The machine is shared: before each phase the script waits (up to --quiet-wait s) for
the other processes' CPU to fall under --quiet-cores, and records the load average.
Writes bench/dashboard-cost/results.json and results.md; --update-results also rewrites
the generated part of the "Dashboard cost (issue 17)" section of bench/RESULTS.md.

    .venv/bin/python bench/dashboard-cost/run.py --update-results   # everything (~25 min)
    .venv/bin/python bench/dashboard-cost/run.py --rounds 5 --sizes 0,10000 --prefill 0
"""

import argparse
import datetime
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from local_server import LocalServer, wait_for  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
BINARY = ROOT / "target" / "release" / "orders"
TABLE = "orders"  # crates/orders-cli/src/pipeline.rs LOCAL_TABLE
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
START = "<!-- dashboard-cost:start (bench/dashboard-cost/run.py --update-results rewrites this part) -->"
END = "<!-- dashboard-cost:end -->"
LIMIT = 0.02  # issue 17: under 2% of the accepted rate


# ---------------------------------------------------------------- CPU accounting (/proc)

def proc_cpu(pid):
    """utime + stime of a process (all its threads), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / TICK


def descendants(root):
    """root and every process below it (from /proc/*/stat's ppid)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu(root):
    """CPU seconds of root and its descendants alive now, by pid."""
    cpu = {}
    for pid in descendants(root):
        try:
            cpu[pid] = proc_cpu(pid)
        except (OSError, ValueError, IndexError):
            pass
    return cpu


def tree_delta(before, after):
    """CPU spent between two tree_cpu() readings (a process that appeared counts from 0;
    one that exited meanwhile is lost: reported as a lower bound)."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def system_busy():
    """Busy CPU seconds of the whole machine (/proc/stat: user nice system irq softirq steal)."""
    with open("/proc/stat") as f:
        parts = f.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[1:9])
    return (user + nice + system + irq + softirq + steal) / TICK


def self_cpu():
    t = os.times()
    return t.user + t.system


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def wait_quiet(label, args, log):
    """Waits until processes other than ours take under args.quiet_cores cores (measured
    over 2 s windows while our server idles), up to args.quiet_wait s; records the load."""
    deadline = time.monotonic() + args.quiet_wait
    while True:
        b0, s0, t0 = system_busy(), self_cpu(), time.monotonic()
        time.sleep(2.0)  # the measurement window of the machine's busy time
        busy = (system_busy() - b0 - (self_cpu() - s0)) / (time.monotonic() - t0)
        if busy < args.quiet_cores or time.monotonic() > deadline:
            entry = {"phase": label, "load": loadavg(), "busy_cores": round(busy, 3),
                     "quiet": busy < args.quiet_cores, "at": now()}
            log.append(entry)
            print(f"=== {label}: load {entry['load']}, other CPU {busy:.2f} cores"
                  f"{'' if entry['quiet'] else ' (still busy: proceeding, flagged)'}", flush=True)
            return entry


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- the page's requests

class Page:
    """What /_local/ requests, over one keep-alive connection as a browser keeps: the page
    once, then GET /_local/dashboard.json (with ?since=<last point's t> once it has points),
    and GET /_local/dlq when the DLQ depth differs from the last seen (assets/dashboard.js)."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        self.since = None
        self.dlq_seen = None
        self.refresh_ms = 1000
        self.polls = 0
        self.dlq_gets = 0
        self.bytes = 0
        self.latencies = []

    def get(self, path):
        self.conn.request("GET", path, headers={"Cache-Control": "no-store"})
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"GET {path} answered {r.status}: {body[:200]!r}")
        self.bytes += len(body)
        return body

    def open(self):
        self.get("/_local/")
        self.poll()

    def poll(self):
        t0 = time.perf_counter()
        path = "/_local/dashboard.json" + ("" if self.since is None else f"?since={self.since}")
        d = json.loads(self.get(path))
        self.refresh_ms = d.get("refresh_ms") or 1000
        if d["points"]:
            self.since = d["points"][-1]["t"]
        dlq = (d["stats"].get("dlq") or {}).get("visible")
        if dlq != self.dlq_seen:
            self.get("/_local/dlq")
            self.dlq_gets += 1
            self.dlq_seen = dlq
        self.polls += 1
        self.latencies.append(time.perf_counter() - t0)
        return d

    def close(self):
        self.conn.close()


class PagePoller:
    """The page left open: a poll, then the next one refresh_ms after it answered (the
    page's setTimeout in its finally), until stopped."""

    def __init__(self, base):
        self.page = Page(base)
        self.stop_event = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.page.open()  # the first poll has answered: the page is live
        self.thread.start()

    def _run(self):
        try:
            while not self.stop_event.wait(self.page.refresh_ms / 1000):  # the page's refresh interval
                self.page.poll()
        except Exception as e:  # reported by stop()
            self.error = e

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=120)
        self.page.close()
        if self.error:
            raise RuntimeError(f"the emulated page failed: {self.error}")


class Browser:
    """Headless Chromium on /_local/ through the distribution's chromedriver (as
    tests/browser_ui.py starts it)."""

    def __init__(self, base):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for a in ("--headless=new", "--window-size=1440,900", "--disable-dev-shm-usage", "--disable-gpu"):
            options.add_argument(a)
        if os.geteuid() == 0:
            options.add_argument("--no-sandbox")  # Chromium refuses its sandbox as root
        self.driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")),
                                       options=options)
        self.root_pid = self.driver.service.process.pid
        try:
            self.driver.get(base + "/_local/")
            self.wait_refreshes(1)
        except BaseException:
            self.quit()
            raise

    def refreshes(self):
        v = self.driver.execute_script("return document.body.dataset.refreshes")
        return int(v) if v not in (None, "") else 0

    def wait_refreshes(self, n, timeout=30):
        from selenium.webdriver.support.ui import WebDriverWait
        WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(lambda d: self.refreshes() >= n)

    def quit(self):
        self.driver.quit()


# ---------------------------------------------------------------- server and load

def server(args):
    return LocalServer([args.binary, "local", "--in-memory", "--port", "0",
                        "--api-rate", "off", "--account-concurrency", "off"], cwd=ROOT)


def stats(base):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        c.request("GET", "/_local/stats")
        return json.loads(c.getresponse().read())
    finally:
        c.close()


def drained(base):
    s = stats(base)
    q = s.get("queue") or {}
    return s if q.get("visible", 1) == 0 and q.get("in_flight", 1) == 0 else None


class Load:
    """`orders load` in the background, its CPU read from /proc while it runs and from
    os.wait4 when it ends."""

    def __init__(self, args, base, rate, *, duration=None, count=None, seed=1):
        cmd = [str(args.binary), "load", "--url", base, "--rate", str(rate), "--json", "--quiet",
               "--seed", str(seed)]
        cmd += ["--duration", duration] if duration else ["--count", str(count)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = []
        self.err = []
        self.readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
                        for s, b in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for r in self.readers:
            r.start()

    def wait(self, timeout=600):
        """Waits for the load to exit (killed after timeout s); returns (its JSON report,
        its CPU seconds from wait4's rusage)."""
        timer = threading.Timer(timeout, self.kill)
        timer.start()
        try:
            _, status, ru = os.wait4(self.proc.pid, 0)
        finally:
            timer.cancel()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        for r in self.readers:
            r.join()
        if self.proc.returncode != 0:
            raise RuntimeError(f"orders load exited {self.proc.returncode}: {b''.join(self.err)[-2000:]!r}")
        return json.loads(b"".join(self.out)), ru.ru_utime + ru.ru_stime

    def kill(self):
        """Kills the load if it still runs (a failure path)."""
        if self.proc.returncode is None:
            try:
                self.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.returncode is None:
            self.kill()
            try:
                os.waitpid(self.proc.pid, 0)
                self.proc.returncode = -9
            except ChildProcessError:
                pass
        return False


def accepted_rate(report):
    return report["orders"]["accepted"] / (report["elapsed_ms"] / 1000)


def fill(args, base, target):
    """Stores orders until the table holds at least target; returns the count."""
    seed = 1000
    while True:
        s = wait_for("the queue drained", lambda: drained(base), timeout=600)
        have = s.get("stored_orders") or 0
        if have >= target:
            return have
        seed += 1
        with Load(args, base, args.fill_rate, count=target - have, seed=seed) as load:
            load.wait()


# ---------------------------------------------------------------- (b) CPU per poll

def poll_window(pid, base, min_polls, min_seconds, max_seconds):
    """Back-to-back page polls: at least min_polls and min_seconds, or max_seconds (and
    5 polls) when the polls are slow."""
    page = Page(base)
    page.open()
    page.latencies.clear()
    page.polls = page.bytes = 0
    c0, w0, b0, s0 = proc_cpu(pid), time.monotonic(), system_busy(), self_cpu()
    while True:
        wall = time.monotonic() - w0
        if (page.polls >= min_polls and wall >= min_seconds) or (wall >= max_seconds and page.polls >= 5):
            break
        page.poll()
        if page.dlq_gets > 1:
            raise RuntimeError("the DLQ depth changed during a poll window")
    c1, w1, b1, s1 = proc_cpu(pid), time.monotonic(), system_busy(), self_cpu()
    page.close()
    wall = w1 - w0
    return {"polls": page.polls, "wall_s": wall, "cpu_s": c1 - c0,
            "latency_ms_p50": statistics.median(page.latencies) * 1000,
            "bytes_per_poll": page.bytes / page.polls, "others_cores": (b1 - b0 - (c1 - c0) - (s1 - s0)) / wall}


def idle_window(pid, seconds):
    c0, w0, b0, s0 = proc_cpu(pid), time.monotonic(), system_busy(), self_cpu()
    time.sleep(seconds)  # the measurement window: nothing is sent meanwhile
    c1, w1, b1, s1 = proc_cpu(pid), time.monotonic(), system_busy(), self_cpu()
    wall = w1 - w0
    return {"wall_s": wall, "cpu_s": c1 - c0, "others_cores": (b1 - b0 - (c1 - c0) - (s1 - s0)) / wall}


def paced_window(pid, base, seconds):
    """The page at its own pace (a poll a second after the last answer) for `seconds`: the
    server's CPU, which includes the recounts that fall in the window."""
    poller = PagePoller(base)
    poller.start()
    try:
        polls0 = poller.page.polls
        c0, w0, b0, s0 = proc_cpu(pid), time.monotonic(), system_busy(), self_cpu()
        time.sleep(seconds)  # the measurement window: the page polls meanwhile
        c1, w1, b1, s1 = proc_cpu(pid), time.monotonic(), system_busy(), self_cpu()
        polls = poller.page.polls - polls0
    finally:
        poller.stop()
    wall = w1 - w0
    return {"polls": polls, "wall_s": wall, "cpu_s": c1 - c0,
            "others_cores": (b1 - b0 - (c1 - c0) - (s1 - s0)) / wall}


def measure_paced(pid, base, args, log):
    """CPU per second of an open page at its own pace, minus the idle rate; run again when
    disturbed."""
    for attempt in range(args.retries + 1):
        p = paced_window(pid, base, args.paced_seconds)
        q = idle_window(pid, args.paced_seconds)
        disturbed = max(p["others_cores"], q["others_cores"]) > args.disturbed_cores
        if not disturbed or attempt == args.retries:
            break
        print(f"    paced window disturbed (other processes: {p['others_cores']:.2f} / "
              f"{q['others_cores']:.2f} cores): again", flush=True)
        wait_quiet("b: paced window again", args, log)
    cores = p["cpu_s"] / p["wall_s"] - q["cpu_s"] / q["wall_s"]
    return {"paced": p, "idle": q, "page_cores": cores, "disturbed": disturbed}


def recount_cores(row, recount_after):
    """What the stored-orders count costs per second with a page open, between polls: the
    count's CPU over its interval, max(1 s, recount_after x its duration) (crates/orders-cli/
    src/table.rs StoredCount, RECOUNT_AFTER). 0 when every poll counts (recount_after 0):
    then the poll's CPU already holds it."""
    if not recount_after:
        return 0.0
    scan = row["peers"]["scan_count"]
    interval_s = max(1.0, recount_after * scan["latency_ms"] / 1000)
    return scan["cpu_per_call_ms"] / 1000 / interval_s


def measure_polls(pid, base, args, log):
    """Alternating poll and idle windows of the same wall time; CPU per poll = (poll
    window CPU - idle CPU rate x its wall time) / polls, per pair; the median of the pairs."""
    pairs, disturbed = [], []
    last_wall = None
    retries = 0
    while len(pairs) < args.poll_repeats:
        i = len(pairs)
        if i % 2 == 0 or last_wall is None:
            p = poll_window(pid, base, args.polls, args.poll_seconds, args.poll_max_seconds)
            q = idle_window(pid, p["wall_s"])
        else:
            q = idle_window(pid, last_wall)
            p = poll_window(pid, base, args.polls, args.poll_seconds, args.poll_max_seconds)
        if max(p["others_cores"], q["others_cores"]) > args.disturbed_cores and retries < args.retries:
            retries += 1
            disturbed.append({"poll": p, "idle": q})
            print(f"    poll pair disturbed (other processes: {p['others_cores']:.2f} / "
                  f"{q['others_cores']:.2f} cores): again", flush=True)
            wait_quiet("b: poll pair again", args, log)
            continue
        last_wall = p["wall_s"]
        idle_rate = q["cpu_s"] / q["wall_s"]
        per_poll = (p["cpu_s"] - idle_rate * p["wall_s"]) / p["polls"]
        pairs.append({"poll": p, "idle": q, "cpu_per_poll_ms": per_poll * 1000,
                      "idle_cores": idle_rate})
    per = sorted(x["cpu_per_poll_ms"] for x in pairs)
    return {"pairs": pairs, "disturbed": disturbed, "cpu_per_poll_ms": statistics.median(per),
            "range_ms": [per[0], per[-1]],
            "latency_ms_p50": statistics.median(x["poll"]["latency_ms_p50"] for x in pairs),
            "idle_cores": statistics.median(x["idle_cores"] for x in pairs)}


def dynoxide_client(srv):
    """A boto3 client of the server's in-process Dynoxide (its address from the banner)."""
    import boto3

    line = next(x for x in srv.banner if "Dynoxide at " in x)
    endpoint = line.split("Dynoxide at ", 1)[1].split()[0]
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def scan_count(client):
    """What count_items does (crates/orders-cli/src/table.rs): a paginated Scan, Select=COUNT."""
    total, start = 0, None
    while True:
        kw = {"TableName": TABLE, "Select": "COUNT"}
        if start:
            kw["ExclusiveStartKey"] = start
        page = client.scan(**kw)
        total += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return total


def describe_count(client):
    """The peer: DescribeTable's ItemCount, which Dynoxide computes live with SQL (DynamoDB
    itself updates it about every six hours)."""
    return client.describe_table(TableName=TABLE)["Table"]["ItemCount"]


def measure_calls(pid, fn, idle_cores, min_seconds=2.0, min_calls=5):
    """CPU of the server per call of fn, back to back, minus the idle rate; and fn's answer."""
    c0, w0 = proc_cpu(pid), time.monotonic()
    calls = 0
    while calls < min_calls or time.monotonic() - w0 < min_seconds:
        answer = fn()
        calls += 1
    c1, w1 = proc_cpu(pid), time.monotonic()
    return {"calls": calls, "cpu_per_call_ms": ((c1 - c0) - idle_cores * (w1 - w0)) / calls * 1000,
            "latency_ms": (w1 - w0) / calls * 1000, "answer": answer}


def measure_orders(pid, base, args, rate, seed):
    """A saturating load of args.order_count orders: the server's CPU over the load / accepted."""
    wait_for("the queue drained", lambda: drained(base), timeout=600)
    c0, w0, b0, s0 = proc_cpu(pid), time.monotonic(), system_busy(), self_cpu()
    with Load(args, base, rate, count=args.order_count, seed=seed) as load:
        report, load_cpu = load.wait()
    c1, w1, b1, s1 = proc_cpu(pid), time.monotonic(), system_busy(), self_cpu()
    wall = w1 - w0
    accepted = report["orders"]["accepted"]
    return {"accepted": accepted, "elapsed_s": report["elapsed_ms"] / 1000,
            "accepted_rate": accepted_rate(report), "server_cpu_s": c1 - c0,
            "cpu_per_order_ms": (c1 - c0) / accepted * 1000, "server_cores": (c1 - c0) / wall,
            "load_cpu_s": load_cpu, "others_cores": (b1 - b0 - (c1 - c0) - load_cpu - (s1 - s0)) / wall,
            "responses": report["responses"]}


def phase_b(args, log):
    """Per table size, a fresh server filled to that size: CPU per poll, then CPU per
    accepted order (two loads, which store more orders: the polls are measured first)."""
    out = []
    seed = 100
    for size in args.sizes:
        with server(args) as srv:
            pid, base = srv.proc.pid, srv.base
            stored = fill(args, base, size)
            wait_quiet(f"b: {stored} stored orders", args, log)
            polls = measure_polls(pid, base, args, log)
            after = stats(base).get("stored_orders") or 0
            client = dynoxide_client(srv)
            peers = {"scan_count": measure_calls(pid, lambda: scan_count(client), polls["idle_cores"]),
                     "describe_table": measure_calls(pid, lambda: describe_count(client), polls["idle_cores"])}
            paced = measure_paced(pid, base, args, log) if size in args.paced_sizes else None
            orders, disturbed = [], []
            while len(orders) < 2:
                seed += 1
                o = measure_orders(pid, base, args, args.rate, seed)
                if o["others_cores"] > args.disturbed_cores and len(disturbed) < args.retries:
                    disturbed.append(o)
                    print(f"    load disturbed (other processes: {o['others_cores']:.2f} cores): again", flush=True)
                    wait_quiet("b: load again", args, log)
                    continue
                o["disturbed"] = o["others_cores"] > args.disturbed_cores
                orders.append(o)
        per_order = statistics.median(o["cpu_per_order_ms"] for o in orders)
        rate = statistics.median(o["accepted_rate"] for o in orders)
        server_cores = per_order / 1000 * rate
        polls_per_s = 1 / (1 + polls["latency_ms_p50"] / 1000)  # the next poll 1 s after the answer
        row = {"peers": peers}
        recount = recount_cores(row, args.recount_after)
        share = (polls_per_s * polls["cpu_per_poll_ms"] / 1000 + recount) / server_cores
        row = {"target": size, "stored": stored, "stored_after_polls": after, "polls": polls, "peers": peers,
               "paced": paced, "recount_cores": recount,
               "orders": orders, "disturbed_loads": disturbed, "cpu_per_order_ms": per_order, "accepted_rate": rate,
               "server_cores_at_saturation": server_cores, "polls_per_s": polls_per_s,
               "share": share}
        out.append(row)
        print(f"  {stored:>7} orders: {polls['cpu_per_poll_ms']:.2f} ms CPU/poll "
              f"(range {polls['range_ms'][0]:.2f}-{polls['range_ms'][1]:.2f}; p50 latency "
              f"{polls['latency_ms_p50']:.1f} ms); {per_order * 1000:.0f} us CPU/order at "
              f"{rate:.0f}/s = {server_cores:.2f} cores -> share {share * 100:.2f}%", flush=True)
    return out


# ---------------------------------------------------------------- (a) accepted rate

def one_run(args, condition, seed, prefill):
    """A fresh server; the condition set up; the load; everything measured over the load."""
    browser = poller = None
    with server(args) as srv:
        pid, base = srv.proc.pid, srv.base
        prefilled = fill(args, base, prefill) if prefill else 0
        try:
            if condition == "page":
                poller = PagePoller(base)
                poller.start()
            elif condition == "chromium":
                browser = Browser(base)
            r0 = browser.refreshes() if browser else poller.page.polls if poller else 0
            ch0 = tree_cpu(browser.root_pid) if browser else {}
            la = loadavg()
            c0, w0, b0, s0 = proc_cpu(pid), time.monotonic(), system_busy(), self_cpu()
            with Load(args, base, args.rate, count=args.a_orders, seed=seed) as load:
                report, load_cpu = load.wait()
            c1, w1, b1, s1 = proc_cpu(pid), time.monotonic(), system_busy(), self_cpu()
            ch1 = tree_cpu(browser.root_pid) if browser else {}
            r1 = browser.refreshes() if browser else poller.page.polls if poller else 0
        finally:
            if poller:
                poller.stop()
            if browser:
                browser.quit()
    wall = w1 - w0
    chromium_cpu = tree_delta(ch0, ch1)
    ours = (c1 - c0) + load_cpu + chromium_cpu + (s1 - s0)
    return {"condition": condition, "seed": seed, "load_at_start": la, "prefilled": prefilled,
            "accepted": report["orders"]["accepted"], "sent": report["orders"]["sent"],
            "elapsed_s": report["elapsed_ms"] / 1000, "accepted_rate": accepted_rate(report),
            "responses": report["responses"], "latency_p99_ms": report["latency"]["p99_ms"],
            "server_cores": (c1 - c0) / wall, "load_cores": load_cpu / wall,
            "chromium_cores": chromium_cpu / wall, "polls": r1 - r0, "polls_per_s": (r1 - r0) / wall,
            "others_cores": (b1 - b0 - ours) / wall, "wall_s": wall}


def phase_a(args, log, prefill):
    conditions = ["none", "page"] + (["chromium"] if args.chromium else [])
    runs, discarded = [], []
    seed = 1
    for rnd in range(args.rounds):
        order = conditions[rnd % len(conditions):] + conditions[:rnd % len(conditions)]
        wait_quiet(f"a{prefill}: round {rnd + 1} ({', '.join(order)})", args, log)
        for cond in order:
            for attempt in range(args.retries + 1):
                seed += 1
                r = one_run(args, cond, seed, prefill)
                r["round"] = rnd + 1
                ok = r["others_cores"] <= args.disturbed_cores
                print(f"  round {rnd + 1} {cond:>8}: {r['accepted_rate']:7.0f}/s accepted "
                      f"(server {r['server_cores']:.2f}, load {r['load_cores']:.2f}, chromium "
                      f"{r['chromium_cores']:.2f}, others {r['others_cores']:.2f} cores; "
                      f"{r['polls']} polls; load avg {r['load_at_start'][0]:.2f})"
                      f"{'' if ok else ' DISTURBED: run again'}", flush=True)
                if ok or attempt == args.retries:
                    r["disturbed"] = not ok
                    runs.append(r)
                    break
                discarded.append(r)
                wait_quiet(f"a{prefill}: round {rnd + 1} {cond} again", args, log)
    summary = {}
    for cond in conditions:
        rates = sorted(r["accepted_rate"] for r in runs if r["condition"] == cond)
        summary[cond] = {"median": statistics.median(rates), "min": rates[0], "max": rates[-1],
                         "n": len(rates),
                         "chromium_cores": statistics.median(r["chromium_cores"] for r in runs if r["condition"] == cond),
                         "server_cores": statistics.median(r["server_cores"] for r in runs if r["condition"] == cond),
                         "polls_per_s": statistics.median(r["polls_per_s"] for r in runs if r["condition"] == cond)}
    # Paired within a round: the ratio to the same round's `none` run.
    for cond in conditions[1:]:
        ratios = []
        for rnd in range(1, args.rounds + 1):
            base = [r for r in runs if r["round"] == rnd and r["condition"] == "none"]
            other = [r for r in runs if r["round"] == rnd and r["condition"] == cond]
            if base and other:
                ratios.append(other[0]["accepted_rate"] / base[0]["accepted_rate"])
        ratios.sort()
        summary[cond]["paired_ratio_median"] = statistics.median(ratios)
        summary[cond]["paired_ratio_range"] = [ratios[0], ratios[-1]]
    return {"rate": args.rate, "orders": args.a_orders, "prefill": prefill, "runs": runs, "discarded": discarded, "summary": summary}


# ---------------------------------------------------------------- report

def crossing(sizes):
    """The table size where the share reaches the limit, interpolated linearly between the
    last size under it and the first over it; None if every size is under it, 0 if none is."""
    prev = None
    for r in sizes:
        if r["share"] >= LIMIT:
            if prev is None:
                return 0
            x0, y0, x1, y1 = prev["stored"], prev["share"], r["stored"], r["share"]
            return x0 + (LIMIT - y0) * (x1 - x0) / (y1 - y0)
        prev = r
    return None


def markdown(res):
    lines = []
    m = res["machine"]
    changed = f", with uncommitted changes to {len(res['uncommitted'])} file(s)" if res.get("uncommitted") else ""
    lines.append(f"Measured {res['date']} by `bench/dashboard-cost/run.py` on the release build "
                 f"(`{m['binary']}`) of {res.get('commit', '?')}{changed}, {m['nproc']} cores ({m['cpu']}); the machine is shared with "
                 "other builds, so the load average and the CPU other processes took are given for each phase.")
    lines.append("")
    lines.append("| phase | load average (1 / 5 / 15 min) | other processes' CPU (cores, 2 s before) |")
    lines.append("|---|---|---:|")
    for p in res["phases"]:
        lines.append(f"| {p['phase']} | {' / '.join(f'{x:.2f}' for x in p['load'])} | "
                     f"{p['busy_cores']:.2f}{'' if p['quiet'] else ' (busy)'} |")
    b = res.get("b")
    if b:
        lines.append("")
        lines.append("**CPU per poll against the CPU per accepted order, same server, same table "
                     "size** (a poll = what the open page requests each second; share = (polls/s x "
                     "CPU per poll + the recounts' CPU per s) / (CPU per accepted order x accepted rate); "
                     "limit 2%. \"Scan COUNT alone\": the server's CPU for the paginated `Scan` "
                     "`Select=COUNT`, as `count_items` sends it, and its duration; its peer, the server's "
                     "CPU for a `DescribeTable`, whose `ItemCount` Dynoxide counts live in SQL):")
        lines.append("")
        recount_after = res["args"].get("recount_after", 0)
        if recount_after:
            lines.append("")
            lines.append(f"The server counts the stored orders again only after max(1 s, {recount_after} × the "
                         "last count's duration) (`StoredCount` in `crates/orders-cli/src/table.rs`), so most "
                         "polls count nothing: back-to-back polls measure the poll without its count. The count "
                         "an open page triggers costs, per second, the Scan COUNT's CPU over that interval "
                         "(its CPU and duration measured alone, below); the share adds it.")
        lines.append("")
        lines.append("| stored orders | CPU per poll (median; range) | poll latency p50 | Scan COUNT alone: "
                     "CPU (duration) | peer: DescribeTable ItemCount | recounts per s of open page | "
                     "CPU per accepted order | accepted rate | server CPU at saturation | share of the API's "
                     "capacity | under 2% |")
        lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in b["sizes"]:
            p = r["polls"]
            lines.append(f"| {r['stored']:,} | {p['cpu_per_poll_ms']:.2f} ms ({p['range_ms'][0]:.2f}-"
                         f"{p['range_ms'][1]:.2f}) | {p['latency_ms_p50']:.1f} ms | "
                         f"{r['peers']['scan_count']['cpu_per_call_ms']:.2f} ms ({r['peers']['scan_count']['latency_ms']:.1f} ms) | "
                         f"{r['peers']['describe_table']['cpu_per_call_ms']:.3f} ms | "
                         f"{('%.1f ms CPU' % (r['recount_cores'] * 1000)) if r.get('recount_cores') else 'in the poll'} | "
                         f"{r['cpu_per_order_ms'] * 1000:.0f} µs | {r['accepted_rate']:,.0f}/s | "
                         f"{r['server_cores_at_saturation']:.2f} cores | **{r['share'] * 100:.2f}%** | "
                         f"{'yes' if r['share'] < LIMIT else '**no**'} |")
        at = b["limit_orders"]
        where = (f"under 2% at every size measured (up to {b['sizes'][-1]['stored']:,})" if at is None else
                 "over 2% already with an empty table" if at <= 0 else
                 f"over 2% from about **{at:,.0f} stored orders** (interpolated between the sizes measured)")
        lines.append("")
        again = sum(len(r["disturbed_loads"]) + len(r["polls"]["disturbed"]) for r in b["sizes"])
        kept = [f"{r['stored']:,}" for r in b["sizes"] for o in r["orders"] if o["disturbed"]]
        note = ""
        if kept:
            note = (f"; kept although still disturbed after {res['args']['retries']} retries (which "
                    f"lowers that size's accepted rate, so raises its share): one load at each of "
                    f"{', '.join(kept)} stored orders")
        lines.append(f"Measurements run again because other processes took more than "
                     f"{res['args']['disturbed_cores']} cores meanwhile: {again}{note}.")
        lines.append("")
        for r in b["sizes"]:
            pc = r.get("paced")
            if pc:
                model = r["polls_per_s"] * r["polls"]["cpu_per_poll_ms"] / 1000 + r.get("recount_cores", 0)
                lines.append(f"Check at {r['stored']:,} stored orders: the page at its own pace for "
                             f"{pc['paced']['wall_s']:.0f} s ({pc['paced']['polls']} polls, recounts included) "
                             f"cost the server {pc['page_cores'] * 1000:.1f} ms CPU per s over the idle rate, "
                             f"against {model * 1000:.1f} ms per s from the poll and recount figures"
                             f"{' (disturbed by other processes)' if pc['disturbed'] else ''}.")
                lines.append("")
        lines.append(f"One open page costs the API {where}. Idle server (the sampler only, no page): "
                     f"{statistics.median(r['polls']['idle_cores'] for r in b['sizes']) * 1000:.0f} ms CPU per s.")
    for a in res.get("a") or []:
        lines.append("")
        lines.append(f"**Accepted rate at saturation, {a['prefill']:,} orders stored first** (`orders load "
                     f"--rate {a['rate']} --count {a['orders']}`, a fresh in-memory server "
                     "per run, limits off; the table grows during each run; conditions rotated across rounds):")
        lines.append("")
        lines.append("| page open | runs | accepted/s (median; range) | vs none, paired by round "
                     "(median; range) | polls/s | orders local CPU | Chromium CPU |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        names = {"none": "none", "page": "emulated page (its requests)", "chromium": "headless Chromium"}
        for cond, s in a["summary"].items():
            paired = ("-" if cond == "none" else
                      f"{s['paired_ratio_median']:.3f} ({s['paired_ratio_range'][0]:.3f}-{s['paired_ratio_range'][1]:.3f})")
            lines.append(f"| {names[cond]} | {s['n']} | {s['median']:,.0f} ({s['min']:,.0f}-{s['max']:,.0f}) | "
                         f"{paired} | {s['polls_per_s']:.2f} | {s['server_cores']:.2f} cores | "
                         f"{s['chromium_cores']:.2f} cores |")
        disturbed = [r for r in a["runs"] if r["disturbed"]]
        lines.append("")
        lines.append(f"Runs: {len(a['runs'])} kept, {len(a['discarded'])} run again because other "
                     f"processes took more than {res['args']['disturbed_cores']} cores meanwhile"
                     f"{f', {len(disturbed)} kept although disturbed' if disturbed else ''}.")
    return "\n".join(lines)


def update_results(md):
    text = RESULTS_MD.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{RESULTS_MD} has no {START} ... {END} part to rewrite")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    RESULTS_MD.write_text(head + START + "\n" + md + "\n" + END + tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path, default=BINARY)
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build --release --workspace")
    ap.add_argument("--sizes", default="0,1000,2000,5000,10000,20000", help="table sizes for (b)")
    ap.add_argument("--polls", type=int, default=300, help="polls per window, at least")
    ap.add_argument("--poll-seconds", type=float, default=3.0, help="seconds per poll window, at least")
    ap.add_argument("--poll-max-seconds", type=float, default=8.0,
                    help="a poll window ends after this many seconds (and 5 polls) even short of --polls")
    ap.add_argument("--poll-repeats", type=int, default=3, help="poll/idle window pairs per size")
    ap.add_argument("--recount-after", type=int, default=100,
                    help="the server's RECOUNT_AFTER (crates/orders-cli/src/table.rs): the stored-orders count "
                         "is taken again after max(1 s, this x its duration); 0 for a build that counts on every poll")
    ap.add_argument("--paced-sizes", default="5000",
                    help="table sizes at which the page is also measured at its own pace (recounts included)")
    ap.add_argument("--paced-seconds", type=float, default=60.0)
    ap.add_argument("--order-count", type=int, default=5000, help="orders of each CPU-per-order load")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of (a), one run per condition each")
    ap.add_argument("--a-orders", type=int, default=9000,
                    help="orders of each run of (a): about 10 s at this machine's capacity")
    ap.add_argument("--prefill", default="0,10000", help="orders stored before each run of (a): one set of rounds per value")
    ap.add_argument("--rate", type=int, default=5000,
                    help="orders load --rate: far above the capacity (about 900/s on 2 cores), so every load saturates")
    ap.add_argument("--fill-rate", type=int, help="orders/s when filling the table (default: --rate)")
    ap.add_argument("--no-chromium", dest="chromium", action="store_false")
    ap.add_argument("--skip-a", action="store_true")
    ap.add_argument("--skip-b", action="store_true")
    ap.add_argument("--quiet-cores", type=float, default=0.3)
    ap.add_argument("--quiet-wait", type=float, default=600)
    ap.add_argument("--disturbed-cores", type=float, default=0.3)
    ap.add_argument("--retries", type=int, default=2, help="reruns of a disturbed run of (a)")
    ap.add_argument("--out", type=Path, default=HERE / "results.json")
    ap.add_argument("--update-results", action="store_true", help="rewrite the section in bench/RESULTS.md")
    ap.add_argument("--render-only", action="store_true",
                    help="measure nothing: rewrite results.md (and with --update-results the section) from --out")
    args = ap.parse_args()
    if args.render_only:
        md = markdown(json.loads(args.out.read_text()))
        args.out.with_suffix(".md").write_text(md + "\n")
        print(md)
        if args.update_results:
            update_results(md)
        return
    args.sizes = [int(x) for x in args.sizes.split(",")]
    args.prefill = [int(x) for x in args.prefill.split(",")]
    args.paced_sizes = [int(x) for x in args.paced_sizes.split(",") if x]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_REGION", "us-east-1")

    if not args.no_build:
        print("=== cargo build --release --workspace", flush=True)
        subprocess.run(["cargo", "build", "--release", "--workspace"], cwd=ROOT, check=True)
    if not args.binary.exists():
        raise SystemExit(f"{args.binary} is missing: cargo build --release --workspace")
    if args.chromium and not (shutil.which("chromium") and shutil.which("chromedriver")):
        raise SystemExit("chromium and chromedriver are needed (scripts/bootstrap), or --no-chromium")

    log = []
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "crates", "functions", "Cargo.lock"],
                           cwd=ROOT, capture_output=True, text=True).stdout.split("\n")
    res = {"date": now(), "commit": commit, "uncommitted": [x for x in dirty if x.strip()], "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
           "machine": {"nproc": os.cpu_count(), "cpu": cpu_name(),
                       "binary": os.path.relpath(args.binary, ROOT)}, "phases": log}
    args.fill_rate = args.fill_rate or args.rate
    if not args.skip_b:
        sizes = phase_b(args, log)
        res["b"] = {"sizes": sizes, "limit_orders": crossing(sizes)}
    if not args.skip_a:
        res["a"] = [phase_a(args, log, n) for n in args.prefill]
    wait_quiet("end", args, log)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    md = markdown(res)
    (args.out.with_suffix(".md")).write_text(md + "\n")
    print()
    print(md)
    if args.update_results:
        update_results(md)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    main()
