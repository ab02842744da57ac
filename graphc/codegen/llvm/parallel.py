"""A native thread pool for generated code: `graphc_parallel_for` in LLVM IR.

Why native: a compiled program is one native call (DESIGN.md, principle 4), so kernels
must spread work over the cores without coming back to Python. The pool's worker threads
are started from Python but live in native code (`graphc_worker_loop`, called through
ctypes, which releases the GIL), and generated code hands them work directly.

The runtime module defines (C signatures):

    void graphc_parallel_for(void *pool, void (*task)(void *ctx, int64_t i),
                             void *ctx, int64_t n_tasks);
    void graphc_worker_loop(void *pool);
    int64_t graphc_pool_threads(void *pool);   /* participants: workers + caller; 1 if NULL */
    void graphc_pool_shutdown(void *pool);
    int64_t graphc_cycles(void);               /* the cycle counter the spin limit uses */

Protocol (one pool, one parallel_for at a time; others run serially, see `busy`):
- The caller stores the task and context, resets `done`, then publishes the work word
  `n_tasks << 32 | next` with a release store and bumps the futex word `gen`.
- Every participant (the caller included) grabs indices with one atomic fetch-add on the
  work word. Because the count travels in the same word as the index, a late worker can
  never pair an index with another generation's count: an index below the count is a
  live task of the current call, whose task and context cannot change until it is done.
- Each finished task increments `done`; the caller returns when `done == n_tasks`.
- Idle threads spin on `gen` with `pause` for `spin_cycles`, then sleep on a futex;
  the caller waits for `done` the same way. Wake-ups are only issued when someone sleeps
  (a Dekker pair of seq_cst operations on `sleepers` / `caller_sleeping` and the word).
- A worker about to run tasks checks the caller's CPU (published with the work): if it
  is on the same one, it leaves it (`graphc_avoid_cpu`: its affinity becomes the CPUs
  it started with, less that one), so it is neither there now nor woken there later. The
  kernel tends to wake a sleeping worker on its waker's CPU, and on a virtual machine
  whose other vCPU is idle it left it there, queued behind the caller, for 10-35 ms: the
  caller then ran every task itself (seed-2layer's step ran at its one-thread speed in
  most rounds of the benchmark).
- Which thread runs an index never matters: a task's work depends on its index only, so
  results are identical run to run and identical to the serial fallback (pool == NULL).
- Nothing needs the workers: if none are running (after shutdown, or in a forked child),
  the caller runs every index itself.

Thread count: `default_pool` uses `os.cpu_count()` participants, or the environment
variable `GRAPHC_NUM_THREADS` (a positive integer; 1 means everything runs on the caller).
"""
from __future__ import annotations

import atexit
import ctypes
import functools
import os
import threading
import time
import weakref

from .jit import JIT, target_machine

# Byte offsets into the pool's memory. The contended words sit on separate cache lines.
OFF_WORK = 0              # i64: n_tasks << 32 | next index
OFF_GEN = 64              # i32: generation, the workers' futex word
OFF_SLEEPERS = 68         # i32: workers asleep on `gen`
OFF_SHUTDOWN = 72         # i32: 1 once the workers should exit
OFF_BUSY = 76             # i32: 1 while a parallel_for owns the pool
OFF_SPIN = 80             # i64: cycle-counter ticks to spin before sleeping
OFF_NTHREADS = 88         # i64: participants (workers + the calling thread)
OFF_TASK = 96             # ptr: the current task function
OFF_CTX = 104             # ptr: its context
OFF_STARTED = 112         # i32: workers that entered graphc_worker_loop
OFF_DONE = 128            # i32: finished tasks of the current call, the caller's futex word
OFF_CALLER_SLEEPING = 132  # i32: 1 while the caller sleeps on `done`
OFF_CALLER_CPU = 136      # i32: the CPU the caller of the current call ran on
POOL_BYTES = 192
_ALIGN = 64

DEFAULT_SPIN_US = 50.0
ENV_THREADS = "GRAPHC_NUM_THREADS"

# futex(2): the syscall number per architecture and the process-private operations.
_FUTEX_SYSCALL = {"x86_64": 202, "aarch64": 98}
_FUTEX_WAIT_PRIVATE = 128
_FUTEX_WAKE_PRIVATE = 129
_INT_MAX = 2 ** 31 - 1

_RUNTIME_IR = """
declare i64 @syscall(i64, ...)
declare i32 @sched_yield()
declare i32 @sched_getcpu()
declare i32 @sched_getaffinity(i32, i64, ptr)
declare i32 @sched_setaffinity(i32, i64, ptr)
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)
declare i64 @llvm.readcyclecounter()
{pause_decl}

define internal ptr @field(ptr %pool, i64 %offset) alwaysinline {{
  %p = getelementptr inbounds i8, ptr %pool, i64 %offset
  ret ptr %p
}}

; One turn of a spin-wait: a pause, and every 256th turn a sched_yield, so that a waiter
; sharing its core with the thread it waits for (an oversubscribed or shared machine)
; hands the core over instead of burning its time slice.
define internal void @spin_hint(i64 %turn) alwaysinline {{
entry:
  {pause_call}
  %low = and i64 %turn, 255
  %yield = icmp eq i64 %low, 255
  br i1 %yield, label %give, label %done
give:
  %r = call i32 @sched_yield()
  br label %done
done:
  ret void
}}

define internal void @futex_wait(ptr %addr, i32 %expected) {{
  %v = zext i32 %expected to i64
  %r = call i64 (i64, ...) @syscall(i64 {futex}, ptr %addr, i64 {wait_op}, i64 %v, ptr null)
  ret void
}}

define internal void @futex_wake(ptr %addr, i32 %count) {{
  %v = zext i32 %count to i64
  %r = call i64 (i64, ...) @syscall(i64 {futex}, ptr %addr, i64 {wake_op}, i64 %v)
  ret void
}}

; The calling thread's affinity becomes %allowed (a cpu_set_t of 1024 bits) without %cpu,
; so the kernel moves it off %cpu at once and never wakes it there again; nothing happens
; when %cpu is the only CPU in %allowed.
define void @graphc_avoid_cpu(ptr %allowed, i32 %cpu) {{
entry:
  %others = alloca [16 x i64], align 8
  %c = zext i32 %cpu to i64
  %home = lshr i64 %c, 6
  %bit = and i64 %c, 63
  %mask = shl i64 1, %bit
  br label %copy
copy:
  %i = phi i64 [ 0, %entry ], [ %next, %copy ]
  %any = phi i64 [ 0, %entry ], [ %any1, %copy ]
  %pa = getelementptr [16 x i64], ptr %allowed, i64 0, i64 %i
  %word = load i64, ptr %pa
  %here = icmp eq i64 %i, %home
  %drop = select i1 %here, i64 %mask, i64 0
  %kept = and i64 %word, %drop
  %rest = xor i64 %word, %kept
  %po = getelementptr [16 x i64], ptr %others, i64 0, i64 %i
  store i64 %rest, ptr %po
  %any1 = or i64 %any, %rest
  %next = add i64 %i, 1
  %more = icmp ult i64 %next, 16
  br i1 %more, label %copy, label %check
check:
  %elsewhere = icmp ne i64 %any1, 0
  br i1 %elsewhere, label %move, label %out
move:
  %r = call i32 @sched_setaffinity(i32 0, i64 128, ptr %others)
  br label %out
out:
  ret void
}}

; A worker about to run tasks on the CPU its caller runs on would take turns with the
; caller instead of running beside it: it leaves that CPU, and is not woken there again
; (the kernel tends to wake a sleeping thread on its waker's CPU, and on a virtual
; machine whose other vCPU is idle it left it there, behind the caller, for tens of ms).
define internal void @avoid_caller_cpu(ptr %pool, ptr %allowed) {{
entry:
  %pcpu = call ptr @field(ptr %pool, i64 {caller_cpu})
  %caller = load atomic i32, ptr %pcpu monotonic, align 4
  %mine = call i32 @sched_getcpu()
  %same = icmp eq i32 %mine, %caller
  br i1 %same, label %move, label %out
move:
  call void @graphc_avoid_cpu(ptr %allowed, i32 %mine)
  br label %out
out:
  ret void
}}

define i64 @graphc_cycles() {{
  %c = call i64 @llvm.readcyclecounter()
  ret i64 %c
}}

define i64 @graphc_pool_threads(ptr %pool) {{
entry:
  %isnull = icmp eq ptr %pool, null
  br i1 %isnull, label %one, label %read
one:
  ret i64 1
read:
  %pn = call ptr @field(ptr %pool, i64 {nthreads})
  %n = load atomic i64, ptr %pn monotonic, align 8
  ret i64 %n
}}

; Grab indices until the work word says none are left; run each; count completions.
define internal void @run_tasks(ptr %pool) {{
entry:
  %pwork = call ptr @field(ptr %pool, i64 {work})
  %ptask = call ptr @field(ptr %pool, i64 {task})
  %pctx = call ptr @field(ptr %pool, i64 {ctx})
  %pdone = call ptr @field(ptr %pool, i64 {done})
  %psleep = call ptr @field(ptr %pool, i64 {caller_sleeping})
  br label %grab
grab:
  %w = atomicrmw add ptr %pwork, i64 1 acq_rel
  %idx = and i64 %w, 4294967295
  %count = lshr i64 %w, 32
  %live = icmp ult i64 %idx, %count
  br i1 %live, label %run, label %out
run:
  %fn = load atomic ptr, ptr %ptask monotonic, align 8
  %ctx = load atomic ptr, ptr %pctx monotonic, align 8
  call void %fn(ptr %ctx, i64 %idx)
  %d = atomicrmw add ptr %pdone, i32 1 seq_cst
  %d1 = add i32 %d, 1
  %count32 = trunc i64 %count to i32
  %last = icmp eq i32 %d1, %count32
  br i1 %last, label %maybe_wake, label %grab
maybe_wake:
  %asleep = load atomic i32, ptr %psleep seq_cst, align 4
  %must = icmp ne i32 %asleep, 0
  br i1 %must, label %wake, label %grab
wake:
  call void @futex_wake(ptr %pdone, i32 1)
  br label %grab
out:
  ret void
}}

; The caller, having run what it could grab, waits until every task has finished.
define internal void @wait_done(ptr %pool, i32 %count) {{
entry:
  %pdone = call ptr @field(ptr %pool, i64 {done})
  %psleep = call ptr @field(ptr %pool, i64 {caller_sleeping})
  %pspin = call ptr @field(ptr %pool, i64 {spin})
  %limit = load atomic i64, ptr %pspin monotonic, align 8
  %start = call i64 @llvm.readcyclecounter()
  br label %spin
spin:
  %turn = phi i64 [ 0, %entry ], [ %next_turn, %pause ]
  %d = load atomic i32, ptr %pdone acquire, align 4
  %finished = icmp eq i32 %d, %count
  br i1 %finished, label %out, label %pause
pause:
  call void @spin_hint(i64 %turn)
  %next_turn = add i64 %turn, 1
  %now = call i64 @llvm.readcyclecounter()
  %spent = sub i64 %now, %start
  %keep = icmp ult i64 %spent, %limit
  br i1 %keep, label %spin, label %sleep
sleep:
  %o1 = atomicrmw xchg ptr %psleep, i32 1 seq_cst
  %d2 = load atomic i32, ptr %pdone seq_cst, align 4
  %finished2 = icmp eq i32 %d2, %count
  br i1 %finished2, label %awake, label %block
block:
  call void @futex_wait(ptr %pdone, i32 %d2)
  br label %awake
awake:
  %o2 = atomicrmw xchg ptr %psleep, i32 0 seq_cst
  %d3 = load atomic i32, ptr %pdone acquire, align 4
  %finished3 = icmp eq i32 %d3, %count
  br i1 %finished3, label %out, label %sleep
out:
  ret void
}}

define void @graphc_parallel_for(ptr %pool, ptr %task, ptr %ctx, i64 %n) {{
entry:
  %empty = icmp slt i64 %n, 1
  br i1 %empty, label %out, label %check_pool
check_pool:
  %nopool = icmp eq ptr %pool, null
  %one = icmp eq i64 %n, 1
  %huge = icmp sgt i64 %n, {int_max}
  %a = or i1 %nopool, %one
  %serial_only = or i1 %a, %huge
  br i1 %serial_only, label %serial, label %check_threads
check_threads:
  %pn = call ptr @field(ptr %pool, i64 {nthreads})
  %threads = load atomic i64, ptr %pn monotonic, align 8
  %alone = icmp slt i64 %threads, 2
  br i1 %alone, label %serial, label %claim
claim:
  %pbusy = call ptr @field(ptr %pool, i64 {busy})
  %cx = cmpxchg ptr %pbusy, i32 0, i32 1 acquire monotonic
  %claimed = extractvalue {{ i32, i1 }} %cx, 1
  br i1 %claimed, label %publish, label %serial
publish:
  %ptask = call ptr @field(ptr %pool, i64 {task})
  %pctx = call ptr @field(ptr %pool, i64 {ctx})
  %pdone = call ptr @field(ptr %pool, i64 {done})
  %pwork = call ptr @field(ptr %pool, i64 {work})
  %pgen = call ptr @field(ptr %pool, i64 {gen})
  %psleepers = call ptr @field(ptr %pool, i64 {sleepers})
  %pcpu = call ptr @field(ptr %pool, i64 {caller_cpu})
  %cpu = call i32 @sched_getcpu()
  store atomic i32 %cpu, ptr %pcpu monotonic, align 4
  store atomic ptr %task, ptr %ptask monotonic, align 8
  store atomic ptr %ctx, ptr %pctx monotonic, align 8
  store atomic i32 0, ptr %pdone monotonic, align 4
  %word = shl i64 %n, 32
  store atomic i64 %word, ptr %pwork release, align 8
  %g = atomicrmw add ptr %pgen, i32 1 seq_cst
  %sleepers = load atomic i32, ptr %psleepers seq_cst, align 4
  %anyone = icmp ne i32 %sleepers, 0
  br i1 %anyone, label %wake, label %work
wake:
  call void @futex_wake(ptr %pgen, i32 {int_max})
  br label %work
work:
  call void @run_tasks(ptr %pool)
  %n32 = trunc i64 %n to i32
  call void @wait_done(ptr %pool, i32 %n32)
  store atomic i32 0, ptr %pbusy release, align 4
  br label %out
serial:
  %i = phi i64 [ 0, %check_pool ], [ 0, %check_threads ], [ 0, %claim ], [ %next, %serial ]
  call void %task(ptr %ctx, i64 %i)
  %next = add i64 %i, 1
  %more = icmp slt i64 %next, %n
  br i1 %more, label %serial, label %out
out:
  ret void
}}

; A worker: wait for a new generation (spin, then futex), run tasks, repeat until shutdown.
define void @graphc_worker_loop(ptr %pool) {{
entry:
  %pgen = call ptr @field(ptr %pool, i64 {gen})
  %psleepers = call ptr @field(ptr %pool, i64 {sleepers})
  %pshutdown = call ptr @field(ptr %pool, i64 {shutdown})
  %pspin = call ptr @field(ptr %pool, i64 {spin})
  %pstarted = call ptr @field(ptr %pool, i64 {started})
  ; the CPUs this worker may use, as it started (none known: it never moves itself)
  %allowed = alloca [16 x i64], align 8
  call void @llvm.memset.p0.i64(ptr %allowed, i8 0, i64 128, i1 false)
  %a0 = call i32 @sched_getaffinity(i32 0, i64 128, ptr %allowed)
  %known = icmp eq i32 %a0, 0
  br i1 %known, label %begin, label %unknown
unknown:
  call void @llvm.memset.p0.i64(ptr %allowed, i8 0, i64 128, i1 false)
  br label %begin
begin:
  %g0 = load atomic i32, ptr %pgen acquire, align 4
  %s0 = atomicrmw add ptr %pstarted, i32 1 seq_cst
  br label %wait
wait:
  %seen = phi i32 [ %g0, %begin ], [ %g, %ran ]
  %limit = load atomic i64, ptr %pspin monotonic, align 8
  %start = call i64 @llvm.readcyclecounter()
  br label %spin
spin:
  %turn = phi i64 [ 0, %wait ], [ %next_turn, %pause ], [ 0, %awake ]
  %g = load atomic i32, ptr %pgen acquire, align 4
  %changed = icmp ne i32 %g, %seen
  br i1 %changed, label %woke, label %pause
pause:
  call void @spin_hint(i64 %turn)
  %next_turn = add i64 %turn, 1
  %now = call i64 @llvm.readcyclecounter()
  %spent = sub i64 %now, %start
  %keep = icmp ult i64 %spent, %limit
  br i1 %keep, label %spin, label %sleep
sleep:
  %a1 = atomicrmw add ptr %psleepers, i32 1 seq_cst
  %g2 = load atomic i32, ptr %pgen seq_cst, align 4
  %same = icmp eq i32 %g2, %seen
  br i1 %same, label %block, label %awake
block:
  call void @futex_wait(ptr %pgen, i32 %seen)
  br label %awake
awake:
  %a2 = atomicrmw sub ptr %psleepers, i32 1 seq_cst
  %g3 = load atomic i32, ptr %pgen acquire, align 4
  %changed3 = icmp ne i32 %g3, %seen
  br i1 %changed3, label %spin, label %sleep
woke:
  %stop = load atomic i32, ptr %pshutdown acquire, align 4
  %exit = icmp ne i32 %stop, 0
  br i1 %exit, label %out, label %ran
ran:
  call void @avoid_caller_cpu(ptr %pool, ptr %allowed)
  call void @run_tasks(ptr %pool)
  br label %wait
out:
  ret void
}}

; Workers exit; parallel_for runs serially from now on.
define void @graphc_pool_shutdown(ptr %pool) {{
  %pn = call ptr @field(ptr %pool, i64 {nthreads})
  store atomic i64 1, ptr %pn seq_cst, align 8
  %ps = call ptr @field(ptr %pool, i64 {shutdown})
  store atomic i32 1, ptr %ps seq_cst, align 4
  %pgen = call ptr @field(ptr %pool, i64 {gen})
  %g = atomicrmw add ptr %pgen, i32 1 seq_cst
  call void @futex_wake(ptr %pgen, i32 {int_max})
  ret void
}}
"""


def _arch() -> str:
    return target_machine().triple.split("-")[0]


@functools.lru_cache(maxsize=1)
def runtime_ir() -> str:
    """The runtime module's LLVM IR text, for the host architecture."""
    arch = _arch()
    if arch not in _FUTEX_SYSCALL:
        raise NotImplementedError(f"graphc's thread pool needs Linux futexes; no syscall "
                                  f"number known for {arch}")
    if arch == "x86_64":
        pause_decl, pause_call = "declare void @llvm.x86.sse2.pause()", \
            "call void @llvm.x86.sse2.pause()"
    else:
        pause_decl, pause_call = "", ""
    return _RUNTIME_IR.format(
        pause_decl=pause_decl, pause_call=pause_call, futex=_FUTEX_SYSCALL[arch],
        wait_op=_FUTEX_WAIT_PRIVATE, wake_op=_FUTEX_WAKE_PRIVATE, int_max=_INT_MAX,
        work=OFF_WORK, gen=OFF_GEN, sleepers=OFF_SLEEPERS, shutdown=OFF_SHUTDOWN,
        busy=OFF_BUSY, spin=OFF_SPIN, nthreads=OFF_NTHREADS, task=OFF_TASK, ctx=OFF_CTX,
        started=OFF_STARTED, done=OFF_DONE, caller_sleeping=OFF_CALLER_SLEEPING,
        caller_cpu=OFF_CALLER_CPU)


def install_runtime(jit: JIT) -> None:
    """Add the runtime module to `jit` once, so its generated code can call the pool.

    Call this before adding a module that declares `graphc_parallel_for`: JIT.add refuses
    modules whose declared functions are not defined yet.
    """
    if getattr(jit, "_graphc_parallel_runtime", False):
        return
    jit.add(runtime_ir(), optimize_level=2)
    jit._graphc_parallel_runtime = True


@functools.lru_cache(maxsize=1)
def _runtime_jit() -> JIT:
    """A JIT holding only the runtime, for the default pool's worker threads.

    The workers of the process-wide pool run code from here, so they never depend on the
    lifetime of whichever JIT first asked for the pool.
    """
    jit = JIT()
    install_runtime(jit)
    return jit


@functools.lru_cache(maxsize=1)
def cycles_per_us() -> float:
    """The cycle counter's rate (ticks per microsecond), measured once over ~2 ms."""
    cycles = _runtime_jit().function("graphc_cycles", ctypes.c_int64)
    t0, c0 = time.perf_counter(), cycles()
    while time.perf_counter() - t0 < 0.002:
        pass
    t1, c1 = time.perf_counter(), cycles()
    return max((c1 - c0) / ((t1 - t0) * 1e6), 1.0)


_LIVE_POOLS: "weakref.WeakSet[ThreadPool]" = weakref.WeakSet()


class ThreadPool:
    """`num_threads` participants: the calling thread plus `num_threads - 1` workers.

    The pool's memory is a ctypes buffer owned by this object; `address` is what
    generated code receives as its `pool` argument. Keep the object alive as long as
    compiled code may use the address. `close()` (also run at exit) stops the workers;
    the address stays valid afterwards and parallel_for then runs serially.
    `spin_us` is how long idle threads spin before sleeping on a futex: longer spinning
    makes back-to-back parallel kernels cheaper and costs CPU time between runs.
    """

    def __init__(self, jit: JIT, num_threads: int, spin_us: float = DEFAULT_SPIN_US):
        if int(num_threads) < 1:
            raise ValueError(f"ThreadPool needs at least 1 thread, got {num_threads}")
        install_runtime(jit)
        self.num_threads = int(num_threads)
        self._jit = jit
        self._memory = ctypes.create_string_buffer(POOL_BYTES + _ALIGN)
        base = ctypes.addressof(self._memory)
        self.address = (base + _ALIGN - 1) // _ALIGN * _ALIGN
        self._set(ctypes.c_int64, OFF_NTHREADS, self.num_threads)
        self._set(ctypes.c_int64, OFF_SPIN, int(spin_us * cycles_per_us()))
        self._shutdown = jit.function("graphc_pool_shutdown", None, ctypes.c_void_p)
        worker = jit.function("graphc_worker_loop", None, ctypes.c_void_p)
        self._threads = [
            threading.Thread(target=worker, args=(self.address,), daemon=True,
                             name=f"graphc-worker-{i}")
            for i in range(1, self.num_threads)]
        for thread in self._threads:
            thread.start()
        while self._get(ctypes.c_int32, OFF_STARTED) < len(self._threads):
            time.sleep(1e-4)
        self.closed = False
        _LIVE_POOLS.add(self)

    def _field(self, ctype, offset):
        return ctype.from_address(self.address + offset)

    def _get(self, ctype, offset) -> int:
        return self._field(ctype, offset).value

    def _set(self, ctype, offset, value) -> None:
        self._field(ctype, offset).value = value

    @property
    def spin_us(self) -> float:
        return self._get(ctypes.c_int64, OFF_SPIN) / cycles_per_us()

    def close(self) -> None:
        """Stop and join the workers. Not to be called while a run is using the pool."""
        if self.closed:
            return
        self.closed = True
        self._shutdown(self.address)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> "ThreadPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._threads)} workers"
        return f"ThreadPool(num_threads={self.num_threads}, {state})"


def _close_all_pools() -> None:
    """At exit, stop every worker before the JIT code they run is torn down."""
    for pool in list(_LIVE_POOLS):
        pool.close()


atexit.register(_close_all_pools)


def configured_threads() -> int:
    """`GRAPHC_NUM_THREADS` if set (a positive integer), else `os.cpu_count()`."""
    value = os.environ.get(ENV_THREADS, "").strip()
    if not value:
        return os.cpu_count() or 1
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"{ENV_THREADS} must be a positive integer, got {value!r}")
    return threads


_DEFAULT: ThreadPool | None = None
_DEFAULT_LOCK = threading.Lock()


def default_pool(jit: JIT) -> ThreadPool:
    """The process-wide pool, sized by `configured_threads()`; `jit` gets the runtime.

    Code compiled into `jit` can then be given `default_pool(jit).address`.
    """
    global _DEFAULT
    install_runtime(jit)
    with _DEFAULT_LOCK:
        if _DEFAULT is None or _DEFAULT.closed:
            _DEFAULT = ThreadPool(_runtime_jit(), configured_threads())
        return _DEFAULT


def _forget_default_in_child() -> None:
    """A forked child has no worker threads: give it a fresh default pool on demand."""
    global _DEFAULT
    _DEFAULT = None


os.register_at_fork(after_in_child=_forget_default_in_child)

__all__ = ["ThreadPool", "default_pool", "install_runtime", "runtime_ir",
           "configured_threads", "cycles_per_us", "POOL_BYTES", "ENV_THREADS"]
