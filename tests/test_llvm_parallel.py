"""graphc_parallel_for and the native ThreadPool: every index runs exactly once, on any
pool size, with or without a pool, repeatedly, nested, from two callers, after close."""
import ctypes
import os
import threading
import time

import numpy as np
import pytest

from graphc.codegen.llvm import parallel
from graphc.codegen.llvm.jit import JIT

# ctx = { i64 *values, i64 *counts }: task i stores f(i) = i*i + 7 and counts its visit.
# `nested` runs a parallel_for of `record` over 5 indices from inside each task.
TEST_IR = """
declare void @graphc_parallel_for(ptr, ptr, ptr, i64)

define void @record(ptr %ctx, i64 %i) {
  %values = load ptr, ptr %ctx
  %pcounts = getelementptr ptr, ptr %ctx, i64 1
  %counts = load ptr, ptr %pcounts
  %sq = mul i64 %i, %i
  %f = add i64 %sq, 7
  %pv = getelementptr i64, ptr %values, i64 %i
  store i64 %f, ptr %pv
  %pc = getelementptr i64, ptr %counts, i64 %i
  %old = atomicrmw add ptr %pc, i64 1 seq_cst
  ret void
}

define void @run(ptr %pool, ptr %ctx, i64 %n) {
  call void @graphc_parallel_for(ptr %pool, ptr @record, ptr %ctx, i64 %n)
  ret void
}

define void @nested_task(ptr %ctx, i64 %i) {
  %pool = load ptr, ptr %ctx
  %pinner = getelementptr ptr, ptr %ctx, i64 1
  %inner = load ptr, ptr %pinner
  %base = mul i64 %i, 2
  %slot = getelementptr ptr, ptr %inner, i64 %base
  call void @graphc_parallel_for(ptr %pool, ptr @record, ptr %slot, i64 5)
  ret void
}

define void @run_nested(ptr %pool, ptr %ctx, i64 %n) {
  call void @graphc_parallel_for(ptr %pool, ptr @nested_task, ptr %ctx, i64 %n)
  ret void
}

; task i busies itself (~0.2 ms), then writes the CPU it ran on to cpus[i] (ctx: i32*)
declare i32 @sched_getcpu()

define void @where_task(ptr %cpus, i64 %i) {
entry:
  %spin = alloca i64
  store volatile i64 0, ptr %spin
  br label %busy
busy:
  %v = load volatile i64, ptr %spin
  %v1 = add i64 %v, 1
  store volatile i64 %v1, ptr %spin
  %more = icmp ult i64 %v1, 200000
  br i1 %more, label %busy, label %done
done:
  %cpu = call i32 @sched_getcpu()
  %slot = getelementptr i32, ptr %cpus, i64 %i
  store i32 %cpu, ptr %slot
  ret void
}

define void @where(ptr %pool, ptr %cpus, i64 %n) {
  call void @graphc_parallel_for(ptr %pool, ptr @where_task, ptr %cpus, i64 %n)
  ret void
}
"""

SIZES = [0, 1, 2, 3, 17, 1000]


@pytest.fixture(scope="module")
def jit():
    engine = JIT()
    parallel.install_runtime(engine)
    engine.add(TEST_IR)
    return engine


@pytest.fixture(scope="module")
def run(jit):
    return jit.function("run", None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


@pytest.fixture(scope="module")
def pool(jit):
    with parallel.ThreadPool(jit, 2) as p:
        yield p


class Record:
    """The arrays a `record` task writes, and the ctx struct pointing at them."""

    def __init__(self, n):
        self.values = np.full(n, -1, np.int64)
        self.counts = np.zeros(n, np.int64)
        self.ctx = (ctypes.c_void_p * 2)(self.values.ctypes.data, self.counts.ctypes.data)

    @property
    def address(self):
        return ctypes.addressof(self.ctx)

    def check(self, times=1):
        n = len(self.values)
        np.testing.assert_array_equal(self.values, np.arange(n) ** 2 + 7)
        np.testing.assert_array_equal(self.counts, np.full(n, times))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("threads", [1, 2, 4])
def test_every_index_runs_once(jit, run, n, threads):
    with parallel.ThreadPool(jit, threads) as p:
        rec = Record(n)
        run(p.address, rec.address, n)
        rec.check()


@pytest.mark.parametrize("n", SIZES)
def test_null_pool_runs_serially(run, n):
    rec = Record(n)
    run(None, rec.address, n)
    rec.check()


def test_repeated_calls_on_warm_and_sleeping_workers(run, pool):
    for n in SIZES:
        rec = Record(n)
        for repeat in range(50):
            run(pool.address, rec.address, n)
            if repeat % 10 == 9:
                time.sleep(pool.spin_us * 2e-6)      # let the workers fall asleep
        rec.check(times=50)


def test_results_identical_run_to_run(run, pool):
    first = Record(1000)
    run(pool.address, first.address, 1000)
    for _ in range(5):
        again = Record(1000)
        run(pool.address, again.address, 1000)
        np.testing.assert_array_equal(again.values, first.values)
        np.testing.assert_array_equal(again.counts, first.counts)


def test_nested_parallel_for_runs_inner_loops_serially(jit, pool):
    """A task calling parallel_for on the busy pool must not deadlock: it runs inline."""
    run_nested = jit.function("run_nested", None, ctypes.c_void_p, ctypes.c_void_p,
                              ctypes.c_int64)
    outer = 17
    records = [Record(5) for _ in range(outer)]
    inner = (ctypes.c_void_p * (2 * outer))(
        *[address for rec in records
          for address in (rec.values.ctypes.data, rec.counts.ctypes.data)])
    ctx = (ctypes.c_void_p * 2)(pool.address, ctypes.addressof(inner))
    run_nested(pool.address, ctypes.addressof(ctx), outer)
    for rec in records:
        rec.check()


def test_two_callers_share_one_pool(run, pool):
    """A second concurrent caller finds the pool busy and runs its indices itself."""
    errors = []

    def caller():
        try:
            for _ in range(200):
                rec = Record(257)
                run(pool.address, rec.address, 257)
                rec.check()
        except AssertionError as err:          # pragma: no cover - reported below
            errors.append(err)

    callers = [threading.Thread(target=caller) for _ in range(2)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    assert not errors


def test_close_stops_workers_and_keeps_address_usable(jit, run):
    p = parallel.ThreadPool(jit, 3)
    threads = list(p._threads)
    assert len(threads) == 2 and all(t.is_alive() for t in threads)
    p.close()
    assert p.closed and not any(t.is_alive() for t in threads)
    p.close()                                   # idempotent
    rec = Record(100)
    run(p.address, rec.address, 100)            # serial after shutdown
    rec.check()
    assert "closed" in repr(p)


def test_pool_threads_reports_participants(jit):
    threads = jit.function("graphc_pool_threads", ctypes.c_int64, ctypes.c_void_p)
    assert threads(None) == 1
    with parallel.ThreadPool(jit, 3) as p:
        assert threads(p.address) == 3
    assert threads(p.address) == 1


def test_pool_needs_a_thread(jit):
    with pytest.raises(ValueError, match="at least 1 thread"):
        parallel.ThreadPool(jit, 0)


def test_configured_threads_from_environment(monkeypatch):
    monkeypatch.delenv(parallel.ENV_THREADS, raising=False)
    assert parallel.configured_threads() >= 1
    monkeypatch.setenv(parallel.ENV_THREADS, "3")
    assert parallel.configured_threads() == 3
    for bad in ("0", "-2", "many"):
        monkeypatch.setenv(parallel.ENV_THREADS, bad)
        with pytest.raises(ValueError, match=parallel.ENV_THREADS):
            parallel.configured_threads()


def test_default_pool_is_shared_and_usable(run):
    """Code in any JIT can use the process-wide pool, whose workers run elsewhere."""
    p = parallel.default_pool(JIT())
    assert p is parallel.default_pool(JIT())
    assert p.num_threads == parallel.configured_threads()
    rec = Record(1000)
    run(p.address, rec.address, 1000)
    rec.check()


def _cpu_of(thread_id: int) -> int:
    """The CPU a thread of this process last ran on (/proc: field 39 of its stat)."""
    with open(f"/proc/self/task/{thread_id}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[36])


TWO_CPUS = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux and two CPUs this process may use")


def _cpu_set(cpus) -> ctypes.Array:
    """A cpu_set_t (1024 bits) holding `cpus`."""
    words = (ctypes.c_uint64 * 16)()
    for cpu in cpus:
        words[cpu // 64] |= 1 << (cpu % 64)
    return words


@TWO_CPUS
def test_avoid_cpu_moves_the_calling_thread_and_keeps_it_off_that_cpu(jit):
    avoid = jit.function("graphc_avoid_cpu", None, ctypes.c_void_p, ctypes.c_int32)
    libc = ctypes.CDLL(None)
    allowed = os.sched_getaffinity(0)
    home = min(allowed)
    seen = {}

    def body():
        os.sched_setaffinity(0, {home})           # now running on `home`
        os.sched_setaffinity(0, allowed)          # free to go, still there while running
        seen["before"] = libc.sched_getcpu()
        everywhere, only_home = _cpu_set(allowed), _cpu_set({home})
        avoid(ctypes.addressof(everywhere), home)
        seen["after"] = libc.sched_getcpu()
        seen["mask"] = os.sched_getaffinity(0)
        avoid(ctypes.addressof(only_home), home)    # its only CPU: nothing changes
        seen["mask_alone"] = os.sched_getaffinity(0)
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen["before"] == home and seen["after"] != home
    assert seen["mask"] == allowed - {home} == seen["mask_alone"]


@TWO_CPUS
def test_a_worker_on_its_callers_cpu_moves_to_another_before_running_tasks(jit):
    """A worker that finds itself on the caller's CPU (the kernel tends to wake a thread
    on its waker's CPU) leaves it, so the two run side by side instead of in turns."""
    where = jit.function("where", None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    allowed = os.sched_getaffinity(0)
    home = min(allowed)
    # a worker that spins (never sleeps) between calls, so nothing but itself moves it
    with parallel.ThreadPool(jit, 2, spin_us=5e6) as p:
        (worker,) = p._threads
        try:
            os.sched_setaffinity(0, {home})             # the caller stays on `home`
            os.sched_setaffinity(worker.native_id, {home})
            deadline = time.monotonic() + 1.0
            while _cpu_of(worker.native_id) != home and time.monotonic() < deadline:
                time.sleep(0.001)
            assert _cpu_of(worker.native_id) == home
            os.sched_setaffinity(worker.native_id, allowed)   # free to go, still there
            cpus = np.full(64, -1, np.int32)
            where(p.address, cpus.ctypes.data, len(cpus))
            assert np.all(cpus >= 0)
            assert np.any(cpus != home), "every task ran on the caller's CPU"
            # it left the caller's CPU for good, unless the kernel had moved it first
            assert os.sched_getaffinity(worker.native_id) in (allowed - {home}, allowed)
        finally:
            os.sched_setaffinity(0, allowed)
