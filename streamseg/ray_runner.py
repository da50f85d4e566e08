"""Run many inputs on a Ray cluster (extra `streamseg[ray]`): Ray Data spreads the jobs over workers,
each an actor that loads its backend once and runs the same per-file pipeline as a local run, and the
driver writes the same manifest.

    streamseg run /shared/in/ -o /shared/out/ --ray auto            # on a cluster node (RAY_ADDRESS)
    streamseg run /shared/in/ -o /shared/out/ --ray ray://head:10001 # from outside the cluster
    streamseg run in/ -o out/ --ray local --ray-workers 2            # a local Ray instance, CPU workers

On a real cluster, inputs and outputs must be on storage every node sees (NFS, a mounted bucket), since
each worker reads its input and writes its output where the job says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, cast

from streamseg.errors import InputError
from streamseg.jobs import Job, Manifest, pending, process
from streamseg.options import RunOptions


class FileWorker:
    """A Ray actor: one backend (opts.backend with opts' model), many files."""

    def __init__(self, opts: RunOptions) -> None:
        from streamseg.backends.registry import create_backend

        self.backend = create_backend(opts.backend, opts.model())
        self.opts = opts

    def __call__(self, row: dict) -> dict:
        return process(Job(row["source"], row["output"]), self.backend, self.opts)


def run_on_ray(jobs: list[Job], opts: RunOptions, *, address: str, workers: int, manifest: Manifest, resume: bool,
               report: Callable[[dict], None] = lambda r: None) -> list[dict]:
    """Every job on Ray, `workers` actors (each asks for a GPU where the backend runs on one); returns
    their records (skipped ones included), as run_jobs does."""
    from streamseg.backends.registry import uses_gpu

    try:
        import ray
    except ImportError:
        raise InputError("Ray is not installed", "pip install 'streamseg[ray]'") from None
    todo, results = pending(jobs, manifest, resume, report)
    if not todo:
        return results
    started_here = not ray.is_initialized()
    if started_here:
        if address == "local":
            ray.init(num_cpus=max(workers, 1), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        rows = [asdict(j) for j in todo]
        ds = ray.data.from_items(rows, override_num_blocks=len(todo))
        # Ray takes a callable class (one instance per actor) where its annotation names functions alone
        worker = cast(Callable[[dict[str, Any]], dict[str, Any]], FileWorker)
        gpus = 1.0 if uses_gpu(opts.backend) else 0.0  # compiled too, where it compiles for the GPU
        done_rows = ds.map(worker, concurrency=workers, num_cpus=1, num_gpus=gpus,
                           fn_constructor_kwargs={"opts": opts})
        for rec in done_rows.iter_rows():  # as they finish, so the manifest fills while the cluster works
            rec = dict(rec)
            manifest.append(rec)
            results.append(rec)
            report(rec)
    finally:
        if started_here:
            ray.shutdown()
    return results
