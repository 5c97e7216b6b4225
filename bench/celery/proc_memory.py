"""Memory of a worker process and its pool children, read from /proc (Linux, no psutil).

Figures are KiB, as /proc gives them. A process that has exited reads as None:
children may come and go between listing them and reading them.
"""
import glob
import statistics
import threading


def status_kib(pid, field):
    """`field` (VmRSS, VmHWM) of /proc/<pid>/status, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def pss_kib(pid):
    """Proportional set size: shared pages divided among the processes sharing them.

    Unlike RSS, the PSS of a main process and its forked children adds up to
    what they use together. Reading it walks the page tables, so it is read
    only at quiet moments, never while sampling.
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def children_of(pid):
    """Pids of the direct children, whichever thread of `pid` forked them."""
    pids = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(path, encoding="ascii") as f:
                pids.extend(int(p) for p in f.read().split())
        except FileNotFoundError:
            pass
    return pids


class RssPeaks:
    """Peak VmRSS of a main process and of each of its children, sampled every `interval` s.

    The sampling thread is the only writer until stop() returns; read the
    figures after that.
    """

    def __init__(self, pid, interval=0.1):
        self.pid = pid
        self.main_kib = 0
        self.child_kib = {}  # child pid -> peak VmRSS
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stopping.set()
        self._thread.join()
        self.sample()  # and once more at the end, so a short run has a figure too

    def sample(self):
        self.main_kib = max(self.main_kib, status_kib(self.pid, "VmRSS") or 0)
        for child in children_of(self.pid):
            rss = status_kib(child, "VmRSS")
            if rss is not None:
                self.child_kib[child] = max(self.child_kib.get(child, 0), rss)

    def _run(self):
        while not self._stopping.wait(self._interval):
            self.sample()


def summary(per_child_kib):
    """(median, max) over the children, (0, 0) when there are none."""
    values = list(per_child_kib.values())
    if not values:
        return 0, 0
    return int(statistics.median(values)), max(values)
