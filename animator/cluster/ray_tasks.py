"""Ray: the one module that imports it, and only inside its functions (``pip install "dreamreel[cluster]"``).

``start`` joins a cluster (``--address``) or starts Ray on this machine; ``wait_all`` follows tasks as they end
(:mod:`.split` renders a clip's ranges with it); ``map_jobs`` runs ``dreamreel batch``'s jobs with the runner it is
given (:func:`..front.batch.run_job`). It imports nothing of dreamreel's but its errors. A task whose worker dies
is run again by Ray (``max_retries``); a job that crashes (an exit code other than 0 and 2) is retried too; a user
error (exit 2) is not.
"""
from __future__ import annotations

import os
import time
from typing import Callable

from ..errors import UserError

INSTALL = 'Ray is not installed (batches and --workers/--address run on Ray): pip install "dreamreel[cluster]"'


def require_ray():
    """The ray module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(INSTALL) from None
    return ray


def start(address: str | None = None, num_cpus: int | None = None):
    """Ray on this machine (``num_cpus``: default all its cores) or the cluster at ``address``."""
    ray = require_ray()
    if ray.is_initialized():  # (a test, or a notebook, started it)
        return ray
    kw = {"address": address} if address else {"num_cpus": num_cpus or os.cpu_count() or 1}
    try:
        ray.init(**kw, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot reach the Ray cluster at {address}: {first}" if address else f"Ray did not start: {first}") from None
    return ray


def wait_all(ray, refs: dict, on_done: Callable, poll: Callable | None = None, every: float = 0.5) -> None:
    """``on_done(key, result_or_exception)`` as each task ends; ``poll()`` between (progress)."""
    pending = dict((ref, key) for key, ref in refs.items())
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1, timeout=every)
        for ref in done:
            key = pending.pop(ref)
            try:
                on_done(key, ray.get(ref))
            except Exception as e:  # noqa: BLE001 (a task's failure is reported with its job, not raised)
                on_done(key, e)
        if poll:
            poll()


def last_line(e: BaseException) -> str:
    """The last line of a task's error (Ray wraps the worker's exception; its cause says what happened)."""
    cause = getattr(e, "cause", None) or e
    text = str(cause).strip().splitlines()
    return text[-1] if text else type(cause).__name__


# --------------------------------------------------------------------------- batch jobs


class JobCrashed(RuntimeError):
    """A job's process ended with an exit code other than 0 (done) and 2 (a user error): retried."""


class JobRejected(RuntimeError):
    """A job stopped with a user error (exit 2): the same again would fail the same way, not retried."""


def check_fits(ray, jobs: list) -> None:
    """A job that asks for more than any node has stops the batch before it starts (Ray would wait for ever)."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    for job in jobs:
        for key, need in (("CPU", job.cpus), ("GPU", job.gpus)):
            most = max((n.get(key, 0) for n in nodes), default=0)
            if need > most:
                raise UserError(f"job {job.name} asks for {need:g} {key}; the largest node has {most:g}")


def _job_task(run_job: Callable, argv: list[str], cwd: str, cpus: float, log: str) -> dict:
    return run_job(argv, cwd, cpus, log)


def map_jobs(ray, jobs: list, run_job: Callable, cwd: str, logs: str, retries: int, on_done: Callable,
             poll: Callable | None = None):
    """Each job as a Ray task with the resources it declares, run by ``run_job(argv, cwd, cpus, log)`` (a module's
    function: Ray sends it by name); ``on_done(job, result_or_exception)``."""
    refs = {}
    for job in jobs:
        task = ray.remote(num_cpus=job.cpus, num_gpus=job.gpus, max_retries=retries,
                          retry_exceptions=[JobCrashed])(_job_task)
        refs[job.name] = task.remote(run_job, list(job.argv), cwd, job.cpus, os.path.join(logs, f"{job.name}.log"))
    by_name = {j.name: j for j in jobs}
    t0 = time.perf_counter()
    wait_all(ray, refs, lambda name, res: on_done(by_name[name], res, time.perf_counter() - t0), poll)
