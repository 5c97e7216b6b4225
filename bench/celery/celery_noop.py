"""The Celery 5 app of bench/celery/celery_bench.py: one task, bench.noop(i), that does nothing.

Configured as docs/celery-interop.md tells a Celery app sharing celeriac's queues
(protocol 2, json, a classic durable queue with x-max-priority 9, acks late, no
result backend), except that the prefetch multiplier is left at Celery's
default, 4: the benchmark measures Celery as it ships.

The worker (`celery -A celery_noop worker`) reads from the environment that
celery_bench.py gives it:

  CELERIAC_BROKER_URL    amqp://user:pass@host:port/%2f (kombu reads %2f as "/")
  CELERIAC_BENCH_QUEUE   the round's queue
  CELERIAC_BENCH_STAMPS  a directory; each pool child keeps its stamps in <dir>/<pid>

The stamps are how the bench times the run without slowing the task: each child
maps a 24-byte file and, per task, stores the monotonic time and its count
there. That is two stores to shared memory, no system call; the first task of
each child also stores its time once. CLOCK_MONOTONIC is one clock for every
process on the machine, so the bench compares the children's stamps with each
other.
"""
import mmap
import os
import struct
import time

import celery
from celery import signals
from kombu import Exchange, Queue

# first task's time (f64), latest task's time (f64), tasks run (u64)
STAMP_LAYOUT = struct.Struct("<ddQ")
_LATEST_AND_COUNT = struct.Struct("<dQ")
_LATEST_OFFSET = 8


def make_app(queue, broker_url, confirm_publish=True):
    """A Celery app whose only queue is `queue`, declared as celeriac declares job queues.

    The bench publishes without confirms (celery_bench.publish says why).
    """
    app = celery.Celery("celery_noop", broker=broker_url)
    app.conf.update(
        task_protocol=2,
        task_serializer="json",
        accept_content=["json"],
        # Same arguments as celeriac's declaration, or RabbitMQ refuses the
        # second declaration with PRECONDITION_FAILED.
        task_queue_max_priority=9,
        task_queues=[Queue(queue, Exchange(queue), routing_key=queue,
                           queue_arguments={"x-max-priority": 9})],
        task_default_queue=queue,
        task_create_missing_queues=False,
        # send_task returns once the broker confirmed the message.
        broker_transport_options={"confirm_publish": confirm_publish},
        task_acks_late=True,
        task_ignore_result=True,
        # No pidbox consumer: nothing in the bench talks to it, and one
        # consumer less can only help Celery.
        worker_enable_remote_control=False,
    )
    app.task(name="bench.noop")(noop)
    return app


class ChildStamps:
    """This pool child's stamp file, mapped shared so that the bench sees each store."""

    __slots__ = ("_map", "_count")

    def __init__(self, directory):
        path = os.path.join(directory, str(os.getpid()))
        with open(path, "w+b") as f:
            f.write(bytes(STAMP_LAYOUT.size))
            f.flush()
            self._map = mmap.mmap(f.fileno(), STAMP_LAYOUT.size)
        self._count = 0

    def note(self, now):
        self._count += 1
        if self._count == 1:
            STAMP_LAYOUT.pack_into(self._map, 0, now, now, 0)
        # The count is stored with (after) the time, so a count the bench
        # sees always comes with its time.
        _LATEST_AND_COUNT.pack_into(self._map, _LATEST_OFFSET, now, self._count)


_stamps = None  # this pool child's; set in the child once it is forked


@signals.worker_process_init.connect
def _open_stamps(**_):
    global _stamps
    _stamps = ChildStamps(os.environ["CELERIAC_BENCH_STAMPS"])


def noop(i):
    """bench.noop(i): nothing but the stamp, and returns None."""
    _stamps.note(time.monotonic())


# `celery -A celery_noop worker` looks for `app` here. The bench process
# imports this module without these variables and builds its apps with make_app.
if "CELERIAC_BENCH_QUEUE" in os.environ:
    app = make_app(os.environ["CELERIAC_BENCH_QUEUE"], os.environ["CELERIAC_BROKER_URL"])
