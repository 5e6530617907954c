"""Starting and stopping `orders local` from the Python tests.

    with LocalServer(["target/debug/orders", "local", "--port", "0", "--in-memory"]) as server:
        server.base  # http://127.0.0.1:PORT, read from the banner's "API:" line

The server runs on port 0 (it picks a free port and prints it); its stderr is read by a thread
so it never blocks on a full pipe, and the last lines are kept for failure messages. Leaving
the block (or stop()) sends SIGINT, Ctrl-C's signal, waits, and kills it if it does not exit.
"""

import collections
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_LINE = re.compile(r"API: (http://127\.0\.0\.1:\d+)")


class LocalServer:
    def __init__(self, command, cwd=ROOT, start_timeout=60.0):
        self.command = [str(part) for part in command]
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.proc = None
        self.base = None
        self.banner = []  # the lines up to "Ctrl-C stops it" (start-up warnings come first)
        self._tail = collections.deque(maxlen=200)
        self._ready = threading.Event()
        self._reader = None

    def start(self):
        """Starts the server and returns its base URL; raises RuntimeError with the log's tail
        if it exits or prints no address within start_timeout seconds."""
        self.proc = subprocess.Popen(
            self.command, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, errors="replace",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(self.start_timeout) or self.base is None:
            try:
                exited = self.proc.wait(timeout=1)  # its stderr closed: it is exiting
            except subprocess.TimeoutExpired:
                exited = None
            self.stop()
            what = (f"exited with code {exited} before printing its API address" if exited is not None
                    else f"printed no API address within {self.start_timeout:g} s")
            raise RuntimeError(f"`{' '.join(self.command)}` {what}; its log ends:\n{self.log_tail()}")
        return self.base

    def _read(self):
        banner_done = False
        for line in self.proc.stderr:
            self._tail.append(line)
            if not banner_done:
                self.banner.append(line)
                match = API_LINE.search(line)
                if match and self.base is None:
                    self.base = match.group(1)
                    self._ready.set()
                banner_done = "Ctrl-C stops it" in line
        self._ready.set()  # it exited without printing its address

    def log_tail(self, lines=40):
        return "".join(list(self._tail)[-lines:])

    def stop(self, timeout=30.0):
        """SIGINT, as Ctrl-C; kills the server if it has not exited after timeout seconds.
        Returns its exit code (negative: the signal that ended it)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        return self.proc.returncode

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def wait_for(what, probe, timeout, interval=0.1):
    """Calls probe() until it returns a true value, which it returns; raises TimeoutError
    naming `what` and the last value probe returned if timeout seconds pass first."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s (last seen: {last!r})")
        time.sleep(interval)  # polling interval, bounded by the deadline above
