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
def time_calls(fn):
    """Per-call times of `fn` over about MIN_SECONDS, after warm-up."""
    fn()
    fn()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    times = []
    for _ in range(max(5, int(MIN_SECONDS / max(once, 1e-6)))):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def numpy_worker(sizes):
    import numpy as np
    rng = np.random.default_rng(0)
    out = {"kernel": openblas_corename()}
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), np.float32)

        def run(a=a, b=b, c=c):
            np.matmul(a, b, out=c)
        out[n] = time_calls(run)
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


def graphc_worker(sizes):
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
            out[f"{n}/{threads}"] = time_calls(run)
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
    return env


def run_worker(kind, sizes):
    cmd = [sys.executable, __file__, "--worker", kind, "--sizes", ",".join(map(str, sizes))]
    proc = subprocess.run(cmd, env=worker_env(kind), capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout)


def children_cpu():
    """CPU seconds used by this benchmark's finished workers."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_busy():
    """CPU seconds used by the whole machine so far: with children_cpu, the load that
    other processes put on the machine while we measured."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def collect(sizes, rounds):
    samples = {}
    info = {}
    for _ in range(rounds):
        for kind in ("graphc", "numpy1", "numpyN"):
            result = run_worker(kind, sizes)
            for key, value in result.items():
                if isinstance(value, list):
                    samples.setdefault((kind, key), []).extend(value)
                else:
                    info.setdefault(kind, {})[key] = value
    return samples, info


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
        f"OpenBLAS kernel: {info['numpy1']['kernel']}. Machine load from other processes "
        f"during the run: {load:.2f} cores on average.", "",
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
    parser.add_argument("--record", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument("--worker", choices=("graphc", "numpy1", "numpyN"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.worker:
        result = graphc_worker(sizes) if args.worker == "graphc" else numpy_worker(sizes)
        print(json.dumps({str(k): v for k, v in result.items()}))
        return
    busy0, ours0, wall0 = cpu_busy(), children_cpu(), time.perf_counter()
    samples, info = collect(sizes, args.rounds)
    others = (cpu_busy() - busy0) - (children_cpu() - ours0)
    load = max(0.0, others / (time.perf_counter() - wall0))
    text = report(sizes, samples, info, load)
    print(text)
    if args.record:
        record(text)
        print(f"recorded in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
