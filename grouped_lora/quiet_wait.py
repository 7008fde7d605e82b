"""Short naps instead of a spinning core while vLLM's engine core waits for its CPU worker.

vLLM passes each step's input and output between the engine-core process and the worker through a
shared-memory ring buffer. A reader that read within the last second polls it in a ``sched_yield`` loop.
On a GPU host that loop runs on an otherwise idle core; on a small CPU host it runs on the cores the
model's OpenMP threads compute on: py-spy on 2 cores showed the engine core spending 70% of its samples in
that loop while the worker computed, and every OpenMP barrier waits for the thread it displaced.

Sleeping on the writer's zmq notification instead is not safe: the notification socket drops messages
under load (its high-water mark is 1) and vLLM only recovers from a lost one by timeout, which measured
180 ms a step. :func:`install` (CPU only) keeps vLLM's loop and replaces its ``sched_yield`` with a nap of
:data:`NAP_S`: a waiting reader then costs almost no CPU, and a step's hand-over at most one nap.
"""

from __future__ import annotations

import time
from typing import Any

NAP_S = 100e-6
_INSTALLED = "_adcreative_quiet_wait"


def nap() -> None:
    """Stands in for ``os.sched_yield`` in vLLM's shared-memory queue loops."""
    time.sleep(NAP_S)


def install() -> None:
    """vLLM's shared-memory queue readers and writers nap instead of spinning on ``sched_yield``."""
    from vllm.distributed.device_communicators import shm_broadcast

    module: Any = shm_broadcast
    if getattr(module, _INSTALLED, False):
        return
    module.sched_yield = nap
    setattr(module, _INSTALLED, True)
