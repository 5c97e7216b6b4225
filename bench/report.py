#!/usr/bin/python3
"""Renders one scripts/bench run: the JSON of each engine_bench round and each
celery_bench round, merged into bench/results/latest.json, and printed as a
markdown table with medians (and the range over rounds).

    bench/report.py --out PATH --machine JSON_TEXT ENGINE_JSON... -- CELERY_JSON...

Each engine file holds one round of engine_bench (--rounds 1), the last one
also the domain-scale runs; each Celery file one round of celery_bench. The
targets (issue 8) are printed as lines of their own, met or not: this program
reports, it never fails on a figure.
"""
import json
import statistics
import sys

CEILING_TARGET = 0.7  # celeriac end to end / the broker's ceiling
CELERY_TARGET = 5.0  # celeriac end to end / Celery


def load(paths):
    return [json.load(open(p)) for p in paths]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cell(values, fmt="{:,.0f}"):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    m = statistics.median(values)
    if len(values) == 1 or min(values) == max(values):
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def mib(kib_values):
    return [k / 1024 for k in kib_values if k]


def main(argv):
    out = argv[argv.index("--out") + 1]
    machine = json.loads(argv[argv.index("--machine") + 1])
    files = [a for i, a in enumerate(argv) if i > 0 and argv[i - 1] not in ("--out", "--machine")
             and a not in ("--out", "--machine")]
    split = files.index("--")
    engine = load(files[:split])
    celery = load(files[split + 1:])

    rounds = [r for e in engine for r in e["rounds"]]
    domain = [d for e in engine for d in e.get("domain", [])]
    celery_rounds = [r for c in celery for r in c["rounds"]]
    ceiling = [r["ceiling_msgs_per_s"] for r in rounds]
    drain_ceiling = [r["drain_ceiling_msgs_per_s"] for r in rounds]
    pools = ("thread", "process")
    rate = {p: [r[p]["jobs_per_s"] for r in rounds] for p in pools}
    drain = {p: [r[p]["drain_jobs_per_s"] for r in rounds] for p in pools}
    celery_rate = [r["jobs_per_s"] for r in celery_rounds]
    # Ratios per round (each round's sides ran back to back), then their median.
    to_ceiling = {p: [r[p]["jobs_per_s"] / r["ceiling_msgs_per_s"] for r in rounds] for p in pools}
    # Against Celery the like-for-like figure is the drain: both engines take
    # a backlog queued before the worker starts, timed from the first task.
    to_celery = {p: [a / b for a, b in zip(drain[p], celery_rate)] for p in pools}
    # About the most any engine could show here: the bare drain over Celery's.
    bound_celery = [a / b for a, b in zip(drain_ceiling, celery_rate)]
    to_drain_ceiling = {p: [a / b for a, b in zip(drain[p], drain_ceiling)] for p in pools}

    e0 = engine[0]
    c0 = celery[0] if celery else {}
    lines = []
    add = lines.append
    add(f"celeriac scripts/bench, {machine['date']}: {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB, {machine['cpu']}; RabbitMQ {machine['rabbitmq']}, "
        f"PostgreSQL {machine['postgres']}, Celery {c0.get('celery_version', '?')}")
    add(f"{e0['jobs']:,} no-op jobs per round, {len(rounds)} rounds, concurrency {e0['concurrency']} "
        f"(the cores), prefetch {e0['prefetch']} (celeriac and Celery alike); "
        f"medians, range over rounds in brackets")
    add("")
    add("| measurement | thread pool | process pool |")
    add("|---|---:|---:|")
    add(f"| broker ceiling: bare rabbitmq-c publish + consume, msgs/s | {cell(ceiling)} | |")
    add(f"| celeriac end to end (C++ client → worker → PostgreSQL), jobs/s "
        f"| {cell(rate['thread'])} | {cell(rate['process'])} |")
    add(f"| celeriac / ceiling | {cell(to_ceiling['thread'], '{:.2f}')} "
        f"| {cell(to_ceiling['process'], '{:.2f}')} |")
    for key, name in (("cpu_us_per_job", "the worker (its children included)"),
                      ("broker_cpu_us_per_job", "RabbitMQ"),
                      ("database_cpu_us_per_job", "PostgreSQL"),
                      ("client_cpu_us_per_job", "the bench's client")):
        add(f"| end to end: CPU per job of {name}, us "
            f"| {cell([r['thread'].get(key, 0) for r in rounds], '{:.1f}')} "
            f"| {cell([r['process'].get(key, 0) for r in rounds], '{:.1f}')} |")
    add(f"| end to end: cores busy (of {machine['cores']}), all processes "
        f"| {cell([r['thread'].get('busy_cores', 0) for r in rounds], '{:.2f}')} "
        f"| {cell([r['process'].get('busy_cores', 0) for r in rounds], '{:.2f}')} |")
    add(f"| broker drain: bare rabbitmq-c consume of a backlog, msgs/s | {cell(drain_ceiling)} | |")
    add(f"| celeriac drain (backlog queued first, first start → last SUCCESS), jobs/s "
        f"| {cell(drain['thread'])} | {cell(drain['process'])} |")
    add(f"| celeriac drain / broker drain | {cell(to_drain_ceiling['thread'], '{:.2f}')} "
        f"| {cell(to_drain_ceiling['process'], '{:.2f}')} |")
    add(f"| Celery {c0.get('celery_version', '')} prefork drain (acks_late, results ignored), "
        f"jobs/s | | {cell(celery_rate)} |")
    add(f"| celeriac drain / Celery drain | {cell(to_celery['thread'], '{:.1f}')} "
        f"| {cell(to_celery['process'], '{:.1f}')} |")
    add(f"| broker drain / Celery drain: a bare consumer against Celery | "
        f"{cell(bound_celery, '{:.1f}')} | |")
    for key, name in (("enqueue_to_start", "enqueue → start"), ("enqueue_to_done", "enqueue → done")):
        for q in ("p50", "p95", "p99"):
            add(f"| {name} {q} at 50% load, ms "
                f"| {cell([r['thread'][key][q + '_ms'] for r in rounds], '{:.2f}')} "
                f"| {cell([r['process'][key][q + '_ms'] for r in rounds], '{:.2f}')} |")
    add(f"| worker main process RSS idle, MiB "
        f"| {cell(mib(r['thread']['rss_idle_kib'] for r in rounds), '{:.1f}')} "
        f"| {cell(mib(r['process']['rss_idle_kib'] for r in rounds), '{:.1f}')} |")
    add(f"| worker main process RSS under load, MiB "
        f"| {cell(mib(r['thread']['rss_load_kib'] for r in rounds), '{:.1f}')} "
        f"| {cell(mib(r['process']['rss_load_kib'] for r in rounds), '{:.1f}')} |")
    add(f"| per pool child RSS under load (largest), MiB | "
        f"| {cell(mib(r['process']['child_rss_load_kib'] for r in rounds), '{:.1f}')} |")
    add(f"| Celery main process RSS idle / under load, MiB | "
        f"| {cell(mib(r['rss_main_idle_kib'] for r in celery_rounds), '{:.1f}')} / "
        f"{cell(mib(r['rss_main_load_kib'] for r in celery_rounds), '{:.1f}')} |")
    add(f"| Celery per pool child RSS under load (largest), MiB | "
        f"| {cell(mib(r['rss_child_kib_max'] for r in celery_rounds), '{:.1f}')} |")
    by_pool = {d["pool"]: d for d in domain}
    if domain:
        d = domain[0]
        add(f"| domain scale: {d['jobs']} jobs of {d['job_seconds']:g} s, concurrency "
            f"{d['concurrency']}, wall s (serial: {d['jobs'] * d['job_seconds']:g} s) "
            f"| {by_pool.get('thread', {}).get('wall_seconds', 0):.2f} "
            f"| {by_pool.get('process', {}).get('wall_seconds', 0):.2f} |")
    add("")
    # One more digit than the table's, so that a verdict never reads "5.0x: NOT met".
    for p in pools:
        r_ceiling, r_celery = med(to_ceiling[p]), med(to_celery[p])
        add(f"{p} pool: {r_ceiling:.3f} of the broker ceiling (target {CEILING_TARGET}: "
            f"{'met' if r_ceiling >= CEILING_TARGET else 'NOT met'}), "
            f"{r_celery:.2f}x Celery (target {CELERY_TARGET:g}x: "
            f"{'met' if r_celery >= CELERY_TARGET else 'NOT met'})")
    add(f"(a bare consumer drains this broker {med(bound_celery):.1f}x as fast as Celery "
        f"on this run)")
    print("\n".join(lines))

    result = {"machine": machine, "engine": engine, "celery": celery,
              "summary": {"ceiling_msgs_per_s": med(ceiling),
                          "drain_ceiling_msgs_per_s": med(drain_ceiling),
                          "drain_ceiling_to_celery": med(bound_celery),
                          "celery_jobs_per_s": med(celery_rate),
                          **{f"{p}_jobs_per_s": med(rate[p]) for p in pools},
                          **{f"{p}_drain_jobs_per_s": med(drain[p]) for p in pools},
                          **{f"{p}_to_ceiling": med(to_ceiling[p]) for p in pools},
                          **{f"{p}_to_celery": med(to_celery[p]) for p in pools},
                          **{f"{p}_to_drain_ceiling": med(to_drain_ceiling[p]) for p in pools},
                          "domain": domain},
              "table": lines}
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv)
