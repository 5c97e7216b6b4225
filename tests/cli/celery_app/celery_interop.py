"""A Celery 5 app that shares queues with celeriac, for tests/cli/celery_interop_rmqtest.cpp.

Its configuration is what docs/celery-interop.md tells a Python app to set.
Everything comes from the environment the test gives:

  CELERIAC_BROKER_URL      the broker, amqp://user:pass@host:port/%2f (kombu reads %2f as "/")
  CELERIAC_INTEROP_QUEUE   the job queue both sides use
  CELERIAC_INTEROP_MARKERS (worker) a directory: each demo.add run writes <task id>.json there

As a client:  python3 celery_interop.py send CASE   prints the id of the task it sent
As a worker:  python3 -m celery -A celery_interop worker -Q $CELERIAC_INTEROP_QUEUE ...
"""
import json
import os
import sys
import time

import celery
from kombu import Exchange, Queue

QUEUE = os.environ["CELERIAC_INTEROP_QUEUE"]

app = celery.Celery("celery_interop", broker=os.environ["CELERIAC_BROKER_URL"])
app.conf.update(
    task_protocol=2,
    task_serializer="json",
    accept_content=["json"],
    # celeriac's job queues carry x-max-priority 9; a declaration without it
    # (or with another value) is refused with PRECONDITION_FAILED.
    task_queue_max_priority=9,
    task_default_priority=0,
    # Celery publishes through a direct exchange (Exchange("") would be
    # replaced by task_default_exchange) that it binds to the queue; celeriac
    # publishes through the default exchange. Both reach the same queue, and
    # the extra exchange and binding conflict with nothing of celeriac's.
    task_queues=[Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE,
                       queue_arguments={"x-max-priority": 9})],
    task_default_queue=QUEUE,
    task_create_missing_queues=False,
    # send_task returns once the broker confirmed the message, as celeriac's enqueue.
    broker_transport_options={"confirm_publish": True},
    # As celeriac's worker: ack after the task ran, one message per slot.
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    # Results live in celeriac's PostgreSQL store, not in a Celery backend.
    task_ignore_result=True,
    # celeriac workers listen on celeriac.control, not on Celery's pidbox.
    worker_enable_remote_control=False,
)


@app.task(name="demo.add", bind=True)
def add(self, a, b):
    """demo.add as celeriac's: a + b. Writes what it saw, so the test can tell it ran."""
    result = a + b
    request = self.request
    seen = {
        "id": request.id,
        "task": self.name,
        "args": list(request.args or []),
        "kwargs": dict(request.kwargs or {}),
        "result": result,
        "retries": request.retries,
        "priority": (request.delivery_info or {}).get("priority"),
        "routing_key": (request.delivery_info or {}).get("routing_key"),
        "timelimit": list(request.timelimit or [None, None]),
        "eta": request.eta,
        "expires": request.expires,
        "ran_at": time.time(),
    }
    directory = os.environ["CELERIAC_INTEROP_MARKERS"]
    partial = os.path.join(directory, request.id + ".partial")
    with open(partial, "w", encoding="utf-8") as f:
        json.dump(seen, f, default=str)
    os.rename(partial, os.path.join(directory, request.id + ".json"))  # atomic: never half read
    return result


# What `send CASE` publishes: demo.add as a Python app sends it.
CASES = {
    "add": dict(args=[2, 3]),
    "kwargs_priority_limits": dict(kwargs={"a": 1.5, "b": 2}, priority=7, time_limit=30,
                                   soft_time_limit=20, expires=600),
    "countdown": dict(args=[20, 22], countdown=2),
    "bad_argument": dict(args=["two", 3]),
    "custom_id": dict(args=[1, 1], task_id="report-42"),  # not a UUID: refused by celeriac
}


def send(case):
    result = app.send_task("demo.add", queue=QUEUE, **CASES[case])
    print(result.id)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "send" or sys.argv[2] not in CASES:
        sys.exit("usage: celery_interop.py send " + "|".join(CASES))
    send(sys.argv[2])
