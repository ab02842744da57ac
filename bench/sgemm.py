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
import textwrap
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## sgemm"
DEFAULT_SIZES = (128, 256, 384, 512, 768, 1024, 1536, 2048)
MIN_SECONDS = 0.25                              # timed calls per size and round


# The products of DESIGN.md's seed-2layer and mlp train steps (forward, then backward:
# dW = Xᵀ·dY is "tn", dX = dY·Wᵀ is "nt"): (name, M, N, K, trans_a, trans_b).
WORKLOAD_PRODUCTS = [
    ("2layer x·w1", 64, 100, 1000, False, False),
    ("2layer h·w2", 64, 10, 100, False, False),
    ("2layer hᵀ·dy", 100, 10, 64, True, False),
    ("2layer dy·w2ᵀ", 64, 100, 10, False, True),
    ("2layer xᵀ·dh", 1000, 100, 64, True, False),
    ("mlp x·W1", 128, 256, 784, False, False),
    ("mlp h1·W2", 128, 256, 256, False, False),
    ("mlp h2·W3", 128, 10, 256, False, False),
    ("mlp h2ᵀ·dz3", 256, 10, 128, True, False),
    ("mlp dz3·W3ᵀ", 128, 256, 10, False, True),
    ("mlp h1ᵀ·dz2", 256, 256, 128, True, False),
    ("mlp dz2·W2ᵀ", 128, 256, 256, False, True),
    ("mlp xᵀ·dz1", 784, 256, 128, True, False),
]


def cases(sizes, workloads):
    """(key, M, N, K, trans_a, trans_b) for every product a worker times."""
    square = [(str(n), n, n, n, False, False) for n in sizes]
    return square + (WORKLOAD_PRODUCTS if workloads else [])


def operands(rng, m, n, k, trans_a, trans_b):
    """Fresh random operands as stored (A is K×M when transposed, B is N×K), and C."""
    import numpy as np
    a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
    return a, b, np.empty((m, n), np.float32)


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


def numpy_worker(products, quiet_wait):
    import numpy as np
    rng = np.random.default_rng(0)
    out = {"kernel": openblas_corename()}
    for key, m, n, k, trans_a, trans_b in products:
        a, b, c = operands(rng, m, n, k, trans_a, trans_b)
        a, b = (a.T if trans_a else a), (b.T if trans_b else b)

        def run(a=a, b=b, c=c):
            np.matmul(a, b, out=c)
        out[key], out[f"load/{key}"] = time_calls(run, quiet_wait)
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


def graphc_worker(products, quiet_wait):
    import llvmlite.ir as ir
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from graphc.codegen.llvm import gemm, parallel
    from graphc.codegen.llvm.jit import JIT
    from graphc.codegen.llvm.templates import ROUTINE_OPT_LEVEL

    jit = JIT()
    parallel.install_runtime(jit)
    variants = sorted({(ta, tb) for _, _, _, _, ta, tb in products} | {(False, False)})
    module = ir.Module(name="sgemm_bench")
    gemm.define_gemm_family(module, "f32")          # as programs get it: four variants
    start = time.perf_counter()
    jit.add(str(module), ROUTINE_OPT_LEVEL)
    out = {"compile_s": time.perf_counter() - start, "config": repr(gemm.host_config("f32"))}
    p, i = ctypes.c_void_p, ctypes.c_int64
    functions = {variant: jit.function(gemm.gemm_name("f32", *variant), None,
                                       p, i, i, i, p, i, p, i, p, i, ctypes.c_float,
                                       ctypes.c_float, p, p)
                 for variant in variants}
    pool = parallel.ThreadPool(jit, 2)
    rng = np.random.default_rng(0)
    for key, m, n, k, trans_a, trans_b in products:
        a, b, c = operands(rng, m, n, k, trans_a, trans_b)
        fn = functions[trans_a, trans_b]
        for threads, address in ((1, None), (2, pool.address)):
            args = (address, m, n, k, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1],
                    c.ctypes.data, n, 0.0, 1.0, None, None)

            def run(fn=fn, args=args):
                fn(*args)
            key_t = f"{key}/{threads}"
            out[key_t], out[f"load/{key_t}"] = time_calls(run, quiet_wait)
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


def run_worker(kind, sizes, workloads, quiet_wait):
    cmd = [sys.executable, __file__, "--worker", kind, "--sizes", ",".join(map(str, sizes)),
           "--quiet-wait", str(quiet_wait)] + ([] if workloads else ["--no-workloads"])
    proc = subprocess.run(cmd, env=worker_env(kind), capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout)


def collect(sizes, workloads, rounds, quiet_wait):
    """Timing samples per (worker, size/threads), others' load per timed window, and the
    workers' other facts."""
    samples, loads, info = {}, [], {}
    for _ in range(rounds):
        for kind in ("graphc", "numpy1", "numpyN"):
            result = run_worker(kind, sizes, workloads, quiet_wait)
            for key, value in result.items():
                if key.startswith("load/"):
                    loads.append(value)
                elif isinstance(value, list):
                    samples.setdefault((kind, key), []).extend(value)
                else:
                    info.setdefault(kind, {})[key] = value
    return samples, sum(loads) / len(loads), info


def median_us(samples, kind, key):
    import numpy as np
    return float(np.median(samples[(kind, key)])) * 1e6


def gflops(samples, kind, key, n):
    return 2 * n ** 3 / median_us(samples, kind, key) / 1e3


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


def workload_table(samples):
    """Median µs per call for each train-step product, and per workload in total."""
    lines = ["| product | M×N×K | graphc 1T | numpy 1T | ratio | graphc 2T | numpy 2T | "
             "ratio |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    totals = {}
    for key, m, n, k, _, _ in WORKLOAD_PRODUCTS:
        row = [median_us(samples, "graphc", f"{key}/1"), median_us(samples, "numpy1", key),
               median_us(samples, "graphc", f"{key}/2"), median_us(samples, "numpyN", key)]
        total = totals.setdefault(key.split()[0], [0.0] * 4)
        for i, value in enumerate(row):
            total[i] += value
        lines.append(product_row(key, f"{m}×{n}×{k}", row))
    for name, row in totals.items():
        lines.append(product_row(f"**{name} total**", "", row))
    return "\n".join(lines)


def product_row(name, shape, row):
    g1, n1, g2, n2 = row
    return (f"| {name} | {shape} | {g1:.1f} | {n1:.1f} | {n1 / g1:.2f} | {g2:.1f} | {n2:.1f} "
            f"| {n2 / g2:.2f} |")


def machine():
    """'2-core x86-64, AMD EPYC (znver4)': cores, architecture, CPU model and LLVM's name."""
    name = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    sys.path.insert(0, str(ROOT))
    from graphc.codegen.llvm.jit import target_machine
    import llvmlite.binding as llvm
    target_machine()
    return f"{os.cpu_count()}-core {platform.machine().replace('_', '-')}, {name} " \
        f"({llvm.get_host_cpu_name()})"


def report(sizes, workloads, samples, info, load):
    dispatch = info["graphc"]["dispatch"]
    today = datetime.date.today().isoformat()
    intro = (
        f"{today}, {machine()}. `python bench/sgemm.py`: C = A·B, float32, square n×n, "
        "GFLOP/s from the median call time (warm, fresh random inputs), implementations "
        "in separate processes taking turns. 1T: graphc without a pool vs numpy with "
        "OPENBLAS_NUM_THREADS=1; 2T: graphc with a 2-thread pool vs numpy with its own "
        f"threads. OpenBLAS kernel: {info['numpy1']['kernel']}. The machine is shared: "
        "each measurement starts when other processes leave the cores idle (waiting up "
        "to --quiet-wait s); their load during the timed calls averaged "
        f"{load:.2f} cores.")
    config = (f"graphc blocking: `{info['graphc']['config']}`; cold compile of the four "
              "variants and their micro-kernels "
              f"{info['graphc']['compile_s'] * 1e3:.0f} ms. Thread-pool dispatch "
              "(parallel_for of empty tasks, 2 threads): "
              f"{dispatch['warm_2_tasks_us']:.2f} µs back to back with 2 tasks, "
              f"{dispatch['warm_64_tasks_us']:.2f} µs with 64 tasks; "
              f"{dispatch['asleep_2_tasks_us']:.1f} µs when the worker has gone to sleep "
              f"(after {dispatch['spin_us']:.0f} µs of spinning).")
    return "\n".join([
        SECTION, "", textwrap.fill(intro, 90), "",
        table(sizes, samples), "",
        *([textwrap.fill("The products of the DESIGN.md train steps, median µs per call "
                         "(ratio: numpy time / graphc time, above 1 = graphc faster):", 90),
           "", workload_table(samples), ""] if workloads else []),
        textwrap.fill(config, 90), ""])


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
    parser.add_argument("--no-workloads", action="store_true",
                        help="skip the table of the train steps' products")
    parser.add_argument("--worker", choices=("graphc", "numpy1", "numpyN"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.worker:
        worker = graphc_worker if args.worker == "graphc" else numpy_worker
        result = worker(cases(sizes, not args.no_workloads), args.quiet_wait)
        print(json.dumps({str(k): v for k, v in result.items()}))
        return
    workloads = not args.no_workloads
    samples, load, info = collect(sizes, workloads, args.rounds, args.quiet_wait)
    text = report(sizes, workloads, samples, info, load)
    print(text)
    if args.record:
        record(text)
        print(f"recorded in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
