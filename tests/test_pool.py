"""The worker-process helper shared by render and the sweep."""
from __future__ import annotations

import pytest

from gan_mixup.pool import available_cpus, map_chunks, process_context


def test_map_chunks_keeps_job_order_in_this_process_and_in_workers():
    jobs = list(range(11))
    assert map_chunks(list, (), jobs, 1) == jobs
    assert map_chunks(list, (), jobs, 2) == jobs  # 4 chunks over 2 processes, concatenated in order


def test_a_workers_exception_is_raised_in_the_caller():
    with pytest.raises(TypeError):
        map_chunks(sorted, (), [1, "a"] * 4, 2)  # 4 chunks of 2, each mixing int and str


def test_the_context_never_forks_and_some_cpu_is_available():
    assert process_context().get_start_method() in ("forkserver", "spawn")
    assert available_cpus() >= 1
