#!/usr/bin/python3
"""The Celery side of the worker benchmark (issue 8): jobs/s and memory of a Celery 5 prefork worker.

    /usr/bin/python3 bench/celery/celery_bench.py --jobs N [--concurrency C] [--rounds R] [--json PATH]
                                                  [--prefetch-multiplier M]

The workload is bench/worker_bench's: N `bench.noop(i)` jobs, published before
the worker starts, run by a worker with C pool children, acks late, no result
stored. The worker is Debian's python3-celery 5 (`/usr/bin/python3 -m celery`,
prefork, Celery's default prefetch multiplier 4, so it prefetches 4 x C
messages; --prefetch-multiplier matches worker_bench's --prefetch instead) on
the broker of $CELERIAC_BROKER_URL. Each round:

1. declares a fresh queue celeriac.bench.celery.<random> (classic, durable,
   x-max-priority 9, as celeriac declares job queues);
2. idle phase: starts a worker on the empty queue, waits until it consumes,
   lets it sit for IDLE_SETTLE_S, reads the VmRSS of its main process and
   children (and their PSS), and stops it. Idle memory is taken here, apart
   from the run, because the queue is full from the moment the run's worker
   starts;
3. publishes N messages with Celery's own send_task (protocol 2, json,
   persistent, priority i % 10), without publisher confirms (see publish()),
   and waits until the queue holds N (passive declare). Not timed;
4. starts the run's worker and times from the start of the first task to the
   end of the last one, from stamps the tasks leave in shared memory
   (celery_noop.py), as bench/worker_bench times celeriac's worker (first
   task start to all N SUCCESS committed). Where the two differ, Celery gains:
   the clock starts after the first delivery and its hand-over to a child, and
   it stops before the last result reaches the main process and its ack the
   broker (celeriac's stops after a store commit; Celery stores nothing).
   Polling the queue's ready count instead would start the clock at the first
   prefetch and could not see the acks. VmRSS of the main process and of
   each child is sampled every 100 ms during the run;
5. once every task has run, waits (untimed) until RabbitMQ counts no message
   ready or unacked (rabbitmqctl), stops the worker with SIGTERM (warm
   shutdown) and checks, with a passive declare, that the queue is still
   empty: RabbitMQ requeues whatever a closed connection left unacked, so an
   empty queue means every message was acked. The queue and Celery's exchange
   of the same name are deleted.

Exit 0 when every job ran exactly once and the queue is empty, 1 when a job or
message went missing or the worker or broker failed, 2 on bad usage.
"""
import argparse
import json
import math
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import amqp
import celery
import kombu
from kombu.exceptions import KombuError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # the modules next to this one, wherever it is run from

import celery_noop  # noqa: E402
import proc_memory  # noqa: E402

DEFAULT_PREFETCH_MULTIPLIER = 4  # Celery's worker_prefetch_multiplier as it ships
IDLE_SETTLE_S = 2.0  # how long the idle worker sits before its memory is read
BOOT_TIMEOUT_S = 120.0  # a worker that does not consume by then has failed
STALL_TIMEOUT_S = 60.0  # no task finished for this long: the run has failed
STAMP_POLL_S = 0.05  # only decides when to stop the worker; the figures come from the stamps
KIB_PER_MIB = 1024
SERVICES = os.path.join(HERE, "..", "..", "scripts", "services")


class BenchFailure(Exception):
    """A job or message went missing, or the worker or broker failed: exit 1."""


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, required=True, help="jobs per round")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count(),
                        help="pool children (default: cores, %(default)s)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (default 1)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures there as JSON")
    parser.add_argument("--prefetch-multiplier", type=int, default=DEFAULT_PREFETCH_MULTIPLIER,
                        help="messages prefetched per child (default: Celery's, %(default)s)")
    args = parser.parse_args(argv)
    for name in ("jobs", "concurrency", "rounds", "prefetch_multiplier"):
        if getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            parser.error(f"{flag}: must be at least 1, not {getattr(args, name)}")
    args.broker_url = os.environ.get("CELERIAC_BROKER_URL")
    if not args.broker_url:
        parser.error('CELERIAC_BROKER_URL: not set (eval "$(scripts/services env)" after '
                     "scripts/services up)")
    return args


class BenchQueue:
    """The round's queue, and a connection of the bench's own to declare, count and delete it."""

    def __init__(self, broker_url):
        self.name = "celeriac.bench.celery." + secrets.token_hex(8)
        self._connection = kombu.Connection(broker_url)
        self._channel = self._connection.channel()

    def declare(self):
        self._channel.queue_declare(queue=self.name, durable=True, auto_delete=False,
                                    arguments={"x-max-priority": 9})

    def counts(self):
        """(ready messages, consumers); unacked messages are not among the ready ones."""
        _, ready, consumers = self._channel.queue_declare(queue=self.name, passive=True)
        return ready, consumers

    def delete(self):
        self._channel.queue_delete(queue=self.name)
        # Celery declared a direct exchange named like the queue and bound it.
        self._channel.exchange_delete(exchange=self.name)

    def close(self):
        self._connection.release()


def publish(queue, jobs, broker_url):
    """Sends the N jobs as a Celery app does. Returns the seconds it took.

    Without publisher confirms: py-amqp waits for each confirm before the next
    publish, and RabbitMQ confirms a persistent message only once it is on
    disk, so confirmed sends ran about 250/s here (20,000 jobs: 80 s a round).
    Nothing is lost unseen: the caller waits until the queue holds all N.
    """
    app = celery_noop.make_app(queue, broker_url, confirm_publish=False)
    began = time.monotonic()
    with app.producer_or_acquire() as producer:
        for i in range(jobs):
            app.send_task("bench.noop", args=[i], queue=queue, priority=i % 10,
                          producer=producer)
    app.close()
    return time.monotonic() - began


def wait_until_queued(queue, jobs, timeout=30.0):
    """Waits until the queue holds all N published messages; fails when it stops growing short of N."""
    ready, last_change, last_ready = 0, time.monotonic(), -1
    while ready != jobs:
        ready = queue.counts()[0]
        if ready > jobs:
            raise BenchFailure(f"the queue holds {ready} messages after publishing {jobs}")
        if ready != last_ready:
            last_ready, last_change = ready, time.monotonic()
        elif time.monotonic() - last_change > timeout:
            raise BenchFailure(f"the queue holds {ready} messages after publishing {jobs}")
        time.sleep(0.01)


class CeleryWorker:
    """`celery worker` as a process of its own, so the bench's work is not in its CPU or memory."""

    def __init__(self, queue, args, stamps_dir, log):
        env = dict(os.environ, CELERIAC_BROKER_URL=args.broker_url, CELERIAC_BENCH_QUEUE=queue,
                   CELERIAC_BENCH_STAMPS=stamps_dir,
                   PYTHONPATH=os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")])))
        command = ["/usr/bin/python3", "-m", "celery", "-A", "celery_noop", "worker",
                   "--pool", "prefork", "--concurrency", str(args.concurrency), "-Q", queue,
                   "--prefetch-multiplier", str(args.prefetch_multiplier),
                   "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                   "--without-heartbeat"]
        self.started = time.monotonic()
        self.process = subprocess.Popen(command, env=env, cwd=HERE, stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=subprocess.STDOUT)
        self.pid = self.process.pid

    def check_running(self, waiting_for):
        if self.process.poll() is not None:
            raise BenchFailure(f"the worker exited with {self.process.returncode} "
                               f"while waiting for {waiting_for}")

    def stop(self, timeout=60.0):
        """SIGTERM (warm shutdown: running tasks finish) and wait. Safe twice."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise BenchFailure(f"the worker did not stop within {timeout:.0f} s of SIGTERM")
        code = self.process.returncode
        if code != 0:
            raise BenchFailure(f"the worker was killed by signal {-code}" if code < 0
                               else f"the worker exited with {code}")


def wait_until(condition, worker, what, timeout, interval):
    """Polls `condition` until it holds; fails when the worker dies or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        worker.check_running(what)
        if time.monotonic() > deadline:
            raise BenchFailure(f"no {what} within {timeout:.0f} s")
        time.sleep(interval)


def broker_counts(queue_name):
    """(ready, unacked) of the queue as RabbitMQ counts them now.

    A passive queue.declare gives only the ready count, so this asks
    rabbitmqctl, through scripts/services (about 0.5 s a call): fine after
    the clock has stopped, too slow for timing.
    """
    command = [SERVICES, "rabbitmqctl", "list_queues", "-q", "--no-table-headers",
               "name", "messages_ready", "messages_unacknowledged"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise BenchFailure(f"scripts/services rabbitmqctl list_queues: {done.stderr.strip()}")
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0] == queue_name:
            return int(fields[1]), int(fields[2])
    raise BenchFailure(f"rabbitmqctl list_queues does not list {queue_name}")


def read_stamps(directory):
    """(tasks run, first task's time, last task's time) over the pool children's stamp files."""
    count, first, last = 0, math.inf, -math.inf
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read(celery_noop.STAMP_LAYOUT.size)
        if len(data) < celery_noop.STAMP_LAYOUT.size:
            continue  # a child is creating its file
        child_first, child_last, child_count = celery_noop.STAMP_LAYOUT.unpack(data)
        if child_count:
            count, first, last = count + child_count, min(first, child_first), max(last, child_last)
    return count, first, last


def memory_now(pid):
    """VmRSS of the main process and of each child, and the PSS of them all together."""
    children = {c: proc_memory.status_kib(c, "VmRSS") for c in proc_memory.children_of(pid)}
    children = {c: rss for c, rss in children.items() if rss is not None}
    pss = sum(proc_memory.pss_kib(p) or 0 for p in [pid, *children])
    return proc_memory.status_kib(pid, "VmRSS"), children, pss


def idle_phase(queue, args, scratch, log):
    """Memory of a worker that consumes from an empty queue, and how long it took to get there."""
    worker = CeleryWorker(queue.name, args, scratch, log)
    try:
        wait_until(lambda: queue.counts()[1] >= 1, worker, "consumer on the idle queue",
                   BOOT_TIMEOUT_S, 0.01)
        boot_s = time.monotonic() - worker.started
        time.sleep(IDLE_SETTLE_S)  # imports and connections settle; nothing to wait on
        main_kib, children, pss_kib = memory_now(worker.pid)
    finally:
        worker.stop()
    child_median, child_max = proc_memory.summary(children)
    return {"boot_seconds": round(boot_s, 3), "rss_main_idle_kib": main_kib,
            "rss_child_idle_kib_median": child_median, "rss_child_idle_kib_max": child_max,
            "pss_total_idle_kib": pss_kib}


def wait_for_all_tasks(worker, stamps_dir, jobs):
    """Returns once the stamps count `jobs` tasks; fails when none finishes for STALL_TIMEOUT_S."""
    seen, last_progress = 0, time.monotonic()
    while seen < jobs:
        worker.check_running(f"{jobs} tasks (ran {seen})")
        count = read_stamps(stamps_dir)[0]
        if count > seen:
            seen, last_progress = count, time.monotonic()
        else:
            allowed = BOOT_TIMEOUT_S if seen == 0 else STALL_TIMEOUT_S  # the first waits for a boot
            if time.monotonic() - last_progress > allowed:
                raise BenchFailure(f"only {seen} of {jobs} tasks ran; none for {allowed:.0f} s")
        time.sleep(STAMP_POLL_S)


def load_phase(queue, args, stamps_dir, log):
    """Runs the published jobs; returns the timing and memory figures."""
    worker = CeleryWorker(queue.name, args, stamps_dir, log)
    peaks = proc_memory.RssPeaks(worker.pid)
    peaks.start()
    try:
        wait_for_all_tasks(worker, stamps_dir, args.jobs)
        # The clock has stopped. Stopping the worker before its last acks
        # reach the broker would requeue those messages and fail the round.
        wait_until(lambda: broker_counts(queue.name) == (0, 0), worker,
                   "every message acked", STALL_TIMEOUT_S, 0.1)
        peaks.stop()
        hwm_main = proc_memory.status_kib(worker.pid, "VmHWM")
        hwm_children = [proc_memory.status_kib(c, "VmHWM") or 0 for c in peaks.child_kib]
        pss_kib = memory_now(worker.pid)[2]
    finally:
        peaks.stop()
        worker.stop()
    count, first, last = read_stamps(stamps_dir)
    if count != args.jobs:
        raise BenchFailure(f"{count} tasks ran for {args.jobs} jobs")
    child_median, child_max = proc_memory.summary(peaks.child_kib)
    seconds = last - first
    return {"seconds": round(seconds, 3), "jobs_per_s": round(args.jobs / seconds, 1),
            "first_task_after_seconds": round(first - worker.started, 3),
            "rss_main_load_kib": peaks.main_kib, "rss_child_kib_median": child_median,
            "rss_child_kib_max": child_max, "children": len(peaks.child_kib),
            "hwm_main_kib": hwm_main, "hwm_child_kib_max": max(hwm_children, default=0),
            # worker_bench's "peak RSS" of its process pool: main and children's VmHWM summed
            "hwm_total_kib": hwm_main + sum(hwm_children),
            "pss_total_load_kib": pss_kib}


def run_round(args, log):
    """One round on a fresh queue, deleted at the end whatever happens."""
    queue = BenchQueue(args.broker_url)
    try:
        queue.declare()
        with tempfile.TemporaryDirectory(prefix="celery_bench.") as scratch:
            idle_dir, load_dir = os.path.join(scratch, "idle"), os.path.join(scratch, "load")
            os.mkdir(idle_dir)
            os.mkdir(load_dir)
            figures = idle_phase(queue, args, idle_dir, log)
            figures["publish_seconds"] = round(publish(queue.name, args.jobs, args.broker_url), 3)
            wait_until_queued(queue, args.jobs)
            figures.update(load_phase(queue, args, load_dir, log))
        left = queue.counts()[0]  # the worker has exited: anything unacked is ready again
        if left:
            raise BenchFailure(f"{left} messages left in the queue after the run")
        return figures
    finally:
        try:
            queue.delete()
        finally:
            queue.close()


def mib(kib):
    return kib / KIB_PER_MIB


def round_line(args, r):
    return (f"celery  prefork C={args.concurrency}  {args.jobs} jobs in {r['seconds']:.2f} s"
            f" = {r['jobs_per_s']:.0f} jobs/s"
            f" | RSS main idle {mib(r['rss_main_idle_kib']):.1f} MiB,"
            f" load {mib(r['rss_main_load_kib']):.1f} MiB,"
            f" child {mib(r['rss_child_kib_median']):.1f} MiB (max {mib(r['rss_child_kib_max']):.1f},"
            f" {r['children']} children) | PSS all idle {mib(r['pss_total_idle_kib']):.1f} MiB,"
            f" load {mib(r['pss_total_load_kib']):.1f} MiB"
            f" | VmHWM main + children {mib(r['hwm_total_kib']):.1f} MiB"
            f" | boot {r['boot_seconds']:.1f} s, first task {r['first_task_after_seconds']:.1f} s"
            f" after start; publish {r['publish_seconds']:.1f} s")


def report(args, rounds):
    return {
        "celery_version": celery.__version__,
        "kombu_version": kombu.__version__,
        "python_version": platform.python_version(),
        "concurrency": args.concurrency,
        "prefetch_multiplier": args.prefetch_multiplier,
        "prefetch_count": args.prefetch_multiplier * args.concurrency,
        "publishing": "Celery send_task, no confirms; queue checked to hold N (passive declare)",
        "timing": "first task start to last task end, from the tasks' monotonic stamps",
        "jobs": args.jobs,
        "rounds": rounds,
        "median_jobs_per_s": round(statistics.median(r["jobs_per_s"] for r in rounds), 1),
    }


def main(argv):
    args = parse_args(argv)
    print(f"celery {celery.__version__} (kombu {kombu.__version__}, python "
          f"{platform.python_version()}), prefork C={args.concurrency}, acks late, results "
          f"ignored, prefetch {args.prefetch_multiplier} x C = "
          f"{args.prefetch_multiplier * args.concurrency}",
          flush=True)
    rounds = []
    with tempfile.NamedTemporaryFile(prefix="celery_bench.", suffix=".log") as log:
        try:
            for i in range(args.rounds):
                rounds.append(run_round(args, log))
                print(f"round {i + 1}/{args.rounds}  " + round_line(args, rounds[-1]), flush=True)
        except (BenchFailure, OSError, KombuError, amqp.exceptions.AMQPError) as e:
            log.flush()
            with open(log.name, encoding="utf-8", errors="replace") as f:
                sys.stderr.write("worker log (last lines):\n" + "".join(f.readlines()[-30:]))
            print(f"celery_bench: {e}", file=sys.stderr)
            return 1
    summary = report(args, rounds)
    print(f"median {summary['median_jobs_per_s']:.0f} jobs/s over {args.rounds} rounds")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
