"""sgemm GFLOP/s: graphc's generated GEMM at 1 and 2 threads against numpy/OpenBLAS.

    python bench/sgemm.py                       # square 128…2048, prints the table
    python bench/sgemm.py --record              # also writes the sgemm section of RESULTS.md
    python bench/sgemm.py --sizes 256,512 --rounds 3

Each implementation runs in its own subprocess, and the subprocesses take turns for
`--rounds` rounds, so slow phases of a shared machine fall on every column alike:
- graphc, with OPENBLAS_NUM_THREADS=1 so no idle OpenBLAS thread spins beside ours;
  1 thread = no pool, 2 threads = a ThreadPool of 2 (the caller and one worker);
- numpy with OPENBLAS_NUM_THREADS=1, and numpy with its own threads.
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from numpy's environment (they can
select a slower kernel); the kernel OpenBLAS picked is reported. Times are medians over
the calls of every round, after warm-up; C = A·B, float32, row-major, fresh random inputs.
The graphc worker also measures the thread pool's dispatch cost.
"""
from __future__ import annotations

import argparse
import ctypes
import datetime
import importlib
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## sgemm"
DEFAULT_SIZES = (128, 256, 384, 512, 768, 1024, 1536, 2048)
MIN_SECONDS = 0.25                              # timed calls per size and round


# -- workers (run in subprocesses) ------------------------------------------------------
def time_calls(fn, quiet_wait):
    """Per-call times of `fn` over about MIN_SECONDS after warm-up, started when other
    processes leave the cores idle, and the load they added meanwhile (in cores)."""
    wait_until_quiet(quiet_wait)
    fn()
    fn()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    busy, own, wall = cpu_busy(), own_cpu(), time.perf_counter()
    times = []
    for _ in range(max(5, int(MIN_SECONDS / max(once, 1e-6)))):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    others = (cpu_busy() - busy) - (own_cpu() - own)
    return times, max(0.0, others / (time.perf_counter() - wall))


def own_cpu():
    """CPU seconds used by every thread of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_busy():
    """CPU seconds used by the whole machine so far."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def others_load(window=0.3):
    """Cores kept busy by other processes over `window` seconds."""
    busy, own = cpu_busy(), own_cpu()
    time.sleep(window)
    return max(0.0, (cpu_busy() - busy) - (own_cpu() - own)) / window


def wait_until_quiet(max_wait, threshold=0.3):
    """On a shared machine, start timing when others leave the cores alone (or after
    max_wait seconds): a busy neighbour halves a 2-thread result. Idle OpenBLAS threads
    of this process stop spinning after a while and then count as quiet."""
    deadline = time.monotonic() + max_wait
    while others_load() > threshold and time.monotonic() < deadline:
        pass


def numpy_worker(sizes, quiet_wait):
    import numpy as np
    rng = np.random.default_rng(0)
    out = {"kernel": openblas_corename()}
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), np.float32)

        def run(a=a, b=b, c=c):
            np.matmul(a, b, out=c)
        out[n], out[f"load/{n}"] = time_calls(run, quiet_wait)
    return out


def openblas_corename():
    """The kernel family OpenBLAS chose at load time (e.g. 'SkylakeX', 'Haswell')."""
    importlib.import_module("numpy")            # loads OpenBLAS
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for symbol in ("openblas_get_corename", "openblas_get_corename64_",
                       "scipy_openblas_get_corename64_", "scipy_openblas_get_corename"):
            fn = getattr(lib, symbol, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return "unknown"


def graphc_worker(sizes, quiet_wait):
    import llvmlite.ir as ir
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from graphc.codegen.llvm import gemm, parallel
    from graphc.codegen.llvm.jit import JIT

    jit = JIT()
    parallel.install_runtime(jit)
    module = ir.Module(name="sgemm_bench")
    gemm.define_gemm(module, "f32", False, False)
    start = time.perf_counter()
    jit.add(str(module))
    out = {"compile_s": time.perf_counter() - start, "config": repr(gemm.host_config("f32"))}
    p, i = ctypes.c_void_p, ctypes.c_int64
    fn = jit.function("graphc_gemm_f32_nn", None, p, i, i, i, p, i, p, i, p, i, ctypes.c_int32)
    pool = parallel.ThreadPool(jit, 2)
    rng = np.random.default_rng(0)
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), np.float32)
        for threads, address in ((1, None), (2, pool.address)):
            args = (address, n, n, n, a.ctypes.data, n, b.ctypes.data, n, c.ctypes.data, n, 0)

            def run(args=args):
                fn(*args)
            key = f"{n}/{threads}"
            out[key], out[f"load/{key}"] = time_calls(run, quiet_wait)
    out["dispatch"] = dispatch_overhead(jit, pool)
    pool.close()
    return out


DISPATCH_IR = """
declare void @graphc_parallel_for(ptr, ptr, ptr, i64)
define void @bench_empty(ptr %ctx, i64 %i) {
  ret void
}
define void @bench_dispatch(ptr %pool, i64 %reps, i64 %tasks) {
entry:
  br label %loop
loop:
  %r = phi i64 [ 0, %entry ], [ %next, %loop ]
  call void @graphc_parallel_for(ptr %pool, ptr @bench_empty, ptr null, i64 %tasks)
  %next = add i64 %r, 1
  %more = icmp slt i64 %next, %reps
  br i1 %more, label %loop, label %done
done:
  ret void
}
"""


def dispatch_overhead(jit, pool):
    """Microseconds per parallel_for of empty tasks: back to back (workers spinning) and
    after a pause longer than the spin (workers asleep on their futex)."""
    import numpy as np
    jit.add(DISPATCH_IR)
    fn = jit.function("bench_dispatch", None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
    result = {}
    for tasks in (2, 64):
        fn(pool.address, 1000, tasks)
        reps = 20000
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            fn(pool.address, reps, tasks)
            samples.append((time.perf_counter() - start) / reps * 1e6)
        result[f"warm_{tasks}_tasks_us"] = float(np.median(samples))
    python_call, woken = [], []
    for _ in range(50):
        start = time.perf_counter()
        fn(None, 1, 2)
        python_call.append(time.perf_counter() - start)
        time.sleep(pool.spin_us * 3e-6)
        start = time.perf_counter()
        fn(pool.address, 1, 2)
        woken.append(time.perf_counter() - start)
    result["asleep_2_tasks_us"] = float((np.median(woken) - np.median(python_call)) * 1e6)
    result["spin_us"] = pool.spin_us
    return result


# -- driver ------------------------------------------------------------------------------
def worker_env(kind):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    if kind in ("graphc", "numpy1"):
        env["OPENBLAS_NUM_THREADS"] = "1"
    else:
        env.pop("OPENBLAS_NUM_THREADS", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if kind == "graphc":
        env["GRAPHC_CACHE"] = "0"               # time a cold compile
    return env


def run_worker(kind, sizes, quiet_wait):
    cmd = [sys.executable, __file__, "--worker", kind, "--sizes", ",".join(map(str, sizes)),
           "--quiet-wait", str(quiet_wait)]
    proc = subprocess.run(cmd, env=worker_env(kind), capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout)


def collect(sizes, rounds, quiet_wait):
    """Timing samples per (worker, size/threads), others' load per timed window, and the
    workers' other facts."""
    samples, loads, info = {}, [], {}
    for _ in range(rounds):
        for kind in ("graphc", "numpy1", "numpyN"):
            result = run_worker(kind, sizes, quiet_wait)
            for key, value in result.items():
                if key.startswith("load/"):
                    loads.append(value)
                elif isinstance(value, list):
                    samples.setdefault((kind, key), []).extend(value)
                else:
                    info.setdefault(kind, {})[key] = value
    return samples, sum(loads) / len(loads), info


def gflops(samples, kind, key, n):
    import numpy as np
    return 2 * n ** 3 / np.median(samples[(kind, key)]) / 1e9


def table(sizes, samples):
    lines = ["| n | graphc 1T | numpy 1T | ratio | graphc 2T | numpy 2T | ratio |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        g1 = gflops(samples, "graphc", f"{n}/1", n)
        g2 = gflops(samples, "graphc", f"{n}/2", n)
        n1 = gflops(samples, "numpy1", str(n), n)
        n2 = gflops(samples, "numpyN", str(n), n)
        lines.append(f"| {n} | {g1:.1f} | {n1:.1f} | {g1 / n1:.2f} | {g2:.1f} | {n2:.1f} | "
                     f"{g2 / n2:.2f} |")
    return "\n".join(lines)


def machine():
    name = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()}-core {platform.machine()}, {name}"


def report(sizes, samples, info, load):
    dispatch = info["graphc"]["dispatch"]
    today = datetime.date.today().isoformat()
    return "\n".join([
        SECTION, "",
        f"{today}, {machine()}. `python bench/sgemm.py`: C = A·B, float32, square n×n, "
        "GFLOP/s from the median call time (warm, fresh random inputs), "
        "implementations in separate processes taking turns. "
        "1T: graphc without a pool vs numpy with OPENBLAS_NUM_THREADS=1; "
        "2T: graphc with a 2-thread pool vs numpy with its own threads. "
        f"OpenBLAS kernel: {info['numpy1']['kernel']}. The machine is shared: each "
        f"measurement starts when other processes leave the cores idle (waiting up to "
        f"--quiet-wait s); their load during the timed calls averaged {load:.2f} cores.", "",
        table(sizes, samples), "",
        f"graphc blocking: `{info['graphc']['config']}`; compile of one variant "
        f"{info['graphc']['compile_s'] * 1e3:.0f} ms.",
        f"Thread-pool dispatch (parallel_for of empty tasks, 2 threads): "
        f"{dispatch['warm_2_tasks_us']:.2f} µs back to back with 2 tasks, "
        f"{dispatch['warm_64_tasks_us']:.2f} µs with 64 tasks; "
        f"{dispatch['asleep_2_tasks_us']:.1f} µs when the worker has gone to sleep "
        f"(after {dispatch['spin_us']:.0f} µs of spinning).", ""])


def record(text):
    """Replace (or append) the sgemm section of RESULTS.md, leaving other sections."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    lines = old.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        new = "\n".join(lines[:start] + text.splitlines() + lines[end:])
    RESULTS.write_text(new.rstrip("\n") + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quiet-wait", type=float, default=10.0,
                        help="seconds to wait, before each measurement, for other processes "
                             "to leave the CPU alone (0: don't wait)")
    parser.add_argument("--record", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument("--worker", choices=("graphc", "numpy1", "numpyN"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.worker:
        worker = graphc_worker if args.worker == "graphc" else numpy_worker
        result = worker(sizes, args.quiet_wait)
        print(json.dumps({str(k): v for k, v in result.items()}))
        return
    samples, load, info = collect(sizes, args.rounds, args.quiet_wait)
    text = report(sizes, samples, info, load)
    print(text)
    if args.record:
        record(text)
        print(f"recorded in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
