"""The worker of ``ddp_throughput.py``: ``train`` paused at log records, driven through two FIFOs.

It imports whichever ``gan_mixup`` its ``PYTHONPATH`` names (the checkout under test, or ``--baseline``'s),
so it imports nothing from this folder.

Run by ``ddp_throughput.py`` only:  python benchmarks/ddp_worker.py --threads 1 --width 32 --warmup 100
                                           --control FIFO --result FIFO
"""
from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext

import torch

BATCH = 64
LOG_EVERY = 10


def worker(args: argparse.Namespace) -> None:
    """Train; at each log record where a block ends, report the block (iterations, seconds from the
    go to this record) on the result FIFO and wait for the next block's iterations on the control
    FIFO (0: stop)."""
    torch.set_num_threads(args.threads)
    from gan_mixup.config import RunConfig
    from gan_mixup.training import StopTraining, train

    try:
        from gan_mixup.distributed import process_group
    except ImportError:  # a baseline checkout from before distributed training: one process only
        process_group = nullcontext  # type: ignore[assignment]

    config = RunConfig(dataset="digits", objective="mixup", alpha=0.2, batch_size=BATCH, hidden=args.width,
                       iterations=10**9, log_every=LOG_EVERY, seed=0, metric_samples=0, checkpoint_seconds=0,
                       checkpoint_every=10**9)
    with process_group() as world:
        main = world is None or world.is_main  # None: a baseline checkout from before World
        control = open(args.control) if main else None
        result = open(args.result, "w") if main else None
        target, resumed = [args.warmup], [(0, time.perf_counter())]  # (iteration, time) the block began

        def on_record(record: dict) -> None:
            if record.get("kind") != "train" or record["iteration"] < target[0]:
                return
            now = time.perf_counter()
            since_iteration, since = resumed[0]
            print(json.dumps({"iterations": record["iteration"] - since_iteration, "seconds": now - since}),
                  file=result, flush=True)
            more = int(control.readline() or 0)
            if more <= 0:
                raise StopTraining
            target[0] = record["iteration"] + more
            resumed[0] = (record["iteration"], time.perf_counter())  # the pause is not the block's time

        # rank 0 alone has callbacks (the others follow it through the collectives), and a
        # StopTraining there is agreed by all ranks at the next iteration.
        train(config, run_dir=None, callbacks=[on_record] if main else [])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads of this process")
    parser.add_argument("--width", type=int, default=32, help="DCGAN base width")
    parser.add_argument("--warmup", type=int, default=100, help="iterations before the first pause")
    parser.add_argument("--control", required=True, help="FIFO the driver writes each block's iterations to")
    parser.add_argument("--result", required=True, help="FIFO this worker reports each block on")
    worker(parser.parse_args(argv))


if __name__ == "__main__":
    main()
