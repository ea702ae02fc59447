#!/usr/bin/env python3
"""Harness overhead over ONNX Runtime: `harness bench --backend ort` against the `onnxruntime`
Python package, same model, same engine version, same session options, in the same run.

For each (threads, batch) configuration the sides are measured in turn, `--repeat` times each,
the order rotating every repeat (harness python, python harness, ...) so that a slow drift of the
machine favours no side. Each measurement is its own process, so no idle ONNX Runtime thread pool
of one side sits beside another. Printed: the median throughput of each side and the ratio of
medians harness / python (target >= 0.97, i.e. at most 3 % harness overhead), with the median of
the per-repeat ratios and the ratio of median per-query p50 latencies as noise checks.

The `onnxruntime` wheel's Python module (onnxruntime_pybind11_state*.so) carries its own statically
linked copy of the engine; it does not load capi/libonnxruntime.so.1.*, the file the harness loads.
Same version and build, but a different binary. `--capi` adds a third side that drives the
harness's very library through its C API with ctypes, doing per query what ort_backend.rs does
(wrap the input buffer in an OrtValue without a copy, Run, copy the first output out, release).
ctypes costs some tens of microseconds per query, so that side is informative at larger batches.

Mirrored from the harness (harness/backends/src/ort_backend.rs with ort 2.0.0-rc.15, built without
its api-22 feature, so no EP selection policy; harness/measure/src/run.rs and settings.rs;
harness/evidence/src/perf.rs):

* session: intra-op threads = the profile's threads (cpu-all: taken from the harness's own report),
  inter-op threads = 1, graph optimisation level 3 = ORT_ENABLE_LAYOUT (ort's
  `GraphOptimizationLevel::Level3` maps to ORT_ENABLE_LAYOUT, not to ORT_ENABLE_ALL = 99, which
  adds ONNX Runtime's level 4, rewrites for data types a kernel lacks such as fp16 on CPU;
  `--python-opt-level all` tries that), sequential execution, CPU execution provider, everything
  else at ONNX Runtime's defaults (memory arena and pattern on, thread spinning on);
* input: one pseudo-random sample (SplitMix64 from seed 0x5eed, values in [0, 1): the harness's
  `Samples::synthetic`) repeated over the batch, built once before timing;
* warm-up: at least 10 queries and 1 s (harness `Settings::default`), excluded;
* measurement: queries back to back until both --min-duration and --min-samples are met;
  throughput = samples / (end of the last query - start), as in the harness's closed loop.
* Python workers run with OPENBLAS_NUM_THREADS=1: numpy's OpenBLAS pool is not used here and
  would otherwise compete for the cores.

Exit status: 0 when everything ran (a ratio below target is reported, not asserted: timings on a
shared VM are noisy); 2 when the harness, a Python side or the set-up fails.

    python3 ci/bench_ort_overhead.py [--model models/vendor-a.onnx] [--threads 1 --threads all]
        [--batch 1 --batch 32] [--repeat 5] [--min-duration 5] [--capi] [--json OUT.json]

Only the standard library (ctypes included), numpy and onnxruntime are used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import cpu_model  # noqa: E402


ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.97
# harness Settings::default(): warm-up of at least 10 queries and 1 s; LoadGen's 1024 samples.
WARMUP_QUERIES = 10
WARMUP_DURATION_S = 1.0
MAX_DURATION_S = 600.0
DEFAULT_MIN_SAMPLES = 1024
SYNTHETIC_SEED = 0x5EED  # harness-cli bench.rs: Samples::synthetic(&shape, 0x5eed)


class RunFailure(Exception):
    """A side could not be set up or run."""


# --------------------------------------------------------------------------------------------
# Python side (run in its own process: `bench_ort_overhead.py --worker ...`)
# --------------------------------------------------------------------------------------------


def synthetic_sample(shape: list[int], seed: int):
    """One case of `shape` (batch dimension 1), as harness-evidence `Samples::synthetic`:
    SplitMix64 (Steele, Lea & Flood 2014) from `seed`, top 24 bits / 2^24 as float32."""
    import numpy as np

    n = 1
    for d in shape[1:]:
        n *= d
    with np.errstate(over="ignore"):
        s = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (s ^ (s >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    vals = (z >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)
    return vals.reshape([1] + list(shape[1:]))


def python_session(args: argparse.Namespace):
    """`onnxruntime.InferenceSession` with the harness's session options; returns (run, info)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = {
        "layout": ort.GraphOptimizationLevel.ORT_ENABLE_LAYOUT,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[args.opt_level]
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(str(args.model), sess_options=so, providers=["CPUExecutionProvider"])
    inputs = sess.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)":
        raise RunFailure(f"{args.model}: exactly one float32 input is supported")
    x = batch_input(args.model, inputs[0].name, inputs[0].shape, args.batch)
    feed = {inputs[0].name: x}
    run = sess.run

    def once():
        run(None, feed)

    # The wheel's Python module carries its own, statically linked copy of ONNX Runtime:
    # capi/libonnxruntime.so (the harness's library) is not loaded by `import onnxruntime`.
    from onnxruntime.capi import onnxruntime_pybind11_state as pybind

    return once, {
        "api": "python",
        "onnxruntime": ort.__version__,
        "engine_binary": str(Path(pybind.__file__).resolve()),
        "libonnxruntime_loaded": libonnxruntime_mapped(),
        "graph_optimization_level": str(so.graph_optimization_level),
        "input_shape": list(x.shape),
    }


# OrtApi function-table indices (onnxruntime_c_api.h; the table only grows at its end, so these
# hold for every API version >= 1). Checked against ort-sys 2.0.0-rc.15's `OrtApi` field order.
_ORT_API = {
    "GetErrorMessage": 2, "CreateEnv": 3, "DisableTelemetryEvents": 6, "CreateSession": 7, "Run": 9,
    "CreateSessionOptions": 10, "SetSessionGraphOptimizationLevel": 23, "SetIntraOpNumThreads": 24,
    "SetInterOpNumThreads": 25, "SessionGetInputCount": 30, "SessionGetOutputCount": 31,
    "SessionGetInputName": 36, "SessionGetOutputName": 37, "CreateTensorWithDataAsOrtValue": 49,
    "GetTensorMutableData": 51, "SessionGetInputTypeInfo": 33, "CastTypeInfoToTensorInfo": 55,
    "GetTensorElementType": 60, "GetDimensionsCount": 61, "GetDimensions": 62,
    "GetTensorShapeElementCount": 64, "GetTensorTypeAndShape": 65, "CreateCpuMemoryInfo": 69,
    "GetAllocatorWithDefaultOptions": 78, "ReleaseValue": 96, "ReleaseTypeInfo": 98,
    "ReleaseTensorTypeAndShapeInfo": 99,
}
ORT_API_VERSION = 17  # what ort-sys 2.0.0-rc.15 requests without api-* features


def capi_session(args: argparse.Namespace, dylib: str):
    """The harness's own library (`dylib`) through its C API with ctypes, doing per query what
    ort_backend.rs does: wrap the input buffer in an OrtValue (no copy), `Run` with every output,
    copy the first output out, release the values. Returns (run, info)."""
    import ctypes as C

    import numpy as np

    lib = C.CDLL(dylib)
    lib.OrtGetApiBase.restype = C.POINTER(C.c_void_p)  # struct { GetApi, GetVersionString }
    base = lib.OrtGetApiBase()
    get_api = C.CFUNCTYPE(C.POINTER(C.c_void_p), C.c_uint32)(base[0])
    version = C.CFUNCTYPE(C.c_char_p)(base[1])().decode()
    table = get_api(ORT_API_VERSION)
    if not table:
        raise RunFailure(f"{dylib}: OrtApi version {ORT_API_VERSION} not supported")
    st = C.c_void_p  # OrtStatus*; NULL = success
    P = C.c_void_p

    def fn(name, *argtypes, restype=st):
        return C.CFUNCTYPE(restype, *argtypes)(table[_ORT_API[name]])

    err_msg = fn("GetErrorMessage", P, restype=C.c_char_p)

    def check(status, what):
        if status:
            raise RunFailure(f"{what}: {err_msg(status).decode(errors='replace')}")

    pp = C.POINTER(P)
    env, opts, sess, alloc, mem = P(), P(), P(), P(), P()
    check(fn("CreateEnv", C.c_int, C.c_char_p, pp)(3, b"bench", C.byref(env)), "CreateEnv")  # ERROR, as ort
    check(fn("DisableTelemetryEvents", P)(env), "DisableTelemetryEvents")
    check(fn("CreateSessionOptions", pp)(C.byref(opts)), "CreateSessionOptions")
    check(fn("SetIntraOpNumThreads", P, C.c_int)(opts, args.threads), "SetIntraOpNumThreads")
    check(fn("SetInterOpNumThreads", P, C.c_int)(opts, 1), "SetInterOpNumThreads")
    level = {"layout": 3, "all": 99}[args.opt_level]
    check(fn("SetSessionGraphOptimizationLevel", P, C.c_int)(opts, level), "SetSessionGraphOptimizationLevel")
    check(fn("CreateSession", P, C.c_char_p, P, pp)(env, str(args.model).encode(), opts, C.byref(sess)),
          "CreateSession")
    check(fn("GetAllocatorWithDefaultOptions", pp)(C.byref(alloc)), "GetAllocatorWithDefaultOptions")
    count = C.c_size_t()
    check(fn("SessionGetInputCount", P, C.POINTER(C.c_size_t))(sess, C.byref(count)), "SessionGetInputCount")
    if count.value != 1:
        raise RunFailure(f"{args.model}: {count.value} inputs; exactly 1 is supported")
    check(fn("SessionGetOutputCount", P, C.POINTER(C.c_size_t))(sess, C.byref(count)), "SessionGetOutputCount")
    n_out = count.value

    def name(getter, i):
        out = C.c_char_p()
        check(fn(getter, P, C.c_size_t, P, C.POINTER(C.c_char_p))(sess, i, alloc, C.byref(out)), getter)
        return out.value  # the allocator's copy is left (a few bytes, once)

    in_names = (C.c_char_p * 1)(name("SessionGetInputName", 0))
    out_names = (C.c_char_p * n_out)(*[name("SessionGetOutputName", i) for i in range(n_out)])
    tinfo, dcount = P(), C.c_size_t()
    check(fn("SessionGetInputTypeInfo", P, C.c_size_t, pp)(sess, 0, C.byref(tinfo)), "SessionGetInputTypeInfo")
    tensor_info = P()  # owned by tinfo
    check(fn("CastTypeInfoToTensorInfo", P, pp)(tinfo, C.byref(tensor_info)), "CastTypeInfoToTensorInfo")
    elem = C.c_int()
    check(fn("GetTensorElementType", P, C.POINTER(C.c_int))(tensor_info, C.byref(elem)), "GetTensorElementType")
    check(fn("GetDimensionsCount", P, C.POINTER(C.c_size_t))(tensor_info, C.byref(dcount)), "GetDimensionsCount")
    raw = (C.c_int64 * dcount.value)()
    check(fn("GetDimensions", P, C.POINTER(C.c_int64), C.c_size_t)(tensor_info, raw, dcount.value), "GetDimensions")
    fn("ReleaseTypeInfo", P, restype=None)(tinfo)
    if elem.value != 1:  # ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT
        raise RunFailure(f"{args.model}: the input is not a float32 tensor (element type {elem.value})")
    dims = [d if d >= 0 else None for d in raw]
    x = batch_input(args.model, in_names[0].decode(), dims, args.batch)
    shape = (C.c_int64 * x.ndim)(*x.shape)
    check(fn("CreateCpuMemoryInfo", C.c_int, C.c_int, pp)(0, 0, C.byref(mem)), "CreateCpuMemoryInfo")  # device, default

    create = fn("CreateTensorWithDataAsOrtValue", P, P, C.c_size_t, C.POINTER(C.c_int64), C.c_size_t, C.c_int, pp)
    run = fn("Run", P, P, C.POINTER(C.c_char_p), C.POINTER(P), C.c_size_t, C.POINTER(C.c_char_p), C.c_size_t,
             C.POINTER(P))
    get_data = fn("GetTensorMutableData", P, pp)
    type_shape = fn("GetTensorTypeAndShape", P, pp)
    elem_count = fn("GetTensorShapeElementCount", P, C.POINTER(C.c_size_t))
    release_ts = fn("ReleaseTensorTypeAndShapeInfo", P, restype=None)
    release = fn("ReleaseValue", P, restype=None)
    data_ptr, nbytes = P(x.ctypes.data), x.nbytes
    value = P()
    in_values = (P * 1)()
    out_values = (P * n_out)()
    info, data, n = P(), P(), C.c_size_t()

    def once():
        check(create(mem, data_ptr, nbytes, shape, x.ndim, 1, C.byref(value)), "CreateTensor")  # 1 = float
        in_values[0] = value
        for i in range(n_out):
            out_values[i] = None
        try:
            check(run(sess, None, in_names, in_values, 1, out_names, n_out, out_values), "Run")
            first = P(out_values[0])
            check(type_shape(first, C.byref(info)), "GetTensorTypeAndShape")
            check(elem_count(info, C.byref(n)), "GetTensorShapeElementCount")
            release_ts(info)
            check(get_data(first, C.byref(data)), "GetTensorMutableData")
            C.string_at(data, 4 * n.value)  # the copy the harness makes into RawOutput
        finally:
            release(value)
            for i in range(n_out):
                if out_values[i]:
                    release(P(out_values[i]))

    once.keep = (lib, env, opts, sess, mem, x, shape)  # keep everything alive with the closure
    return once, {
        "api": "capi",
        "onnxruntime": version,
        "engine_binary": str(Path(dylib).resolve()),
        "libonnxruntime_loaded": libonnxruntime_mapped(),
        "graph_optimization_level": {3: "ORT_ENABLE_LAYOUT", 99: "ORT_ENABLE_ALL"}[level],
        "input_shape": list(x.shape),
    }


def libonnxruntime_mapped() -> bool:
    try:
        return "libonnxruntime.so" in Path("/proc/self/maps").read_text()
    except OSError:
        return False


def batch_input(model: Path, name: str, dims: list, batch: int):
    """The harness's bench input: one synthetic sample repeated `batch` times, contiguous."""
    import numpy as np

    if len(dims) < 1 or any(not isinstance(d, int) for d in dims[1:]):
        raise RunFailure(f"{model}: input '{name}' has a dynamic dimension {dims}")
    sample = synthetic_sample([1] + list(dims[1:]), SYNTHETIC_SEED)
    return np.ascontiguousarray(np.repeat(sample, batch, axis=0))


def worker(args: argparse.Namespace) -> int:
    try:
        if args.api == "capi":
            once, info = capi_session(args, os.environ["ORT_DYLIB_PATH"])
        else:
            once, info = python_session(args)
    except (RunFailure, KeyError, OSError) as e:
        print(f"cannot set up the {args.api} side: {e}", file=sys.stderr)
        return 2

    clock = time.perf_counter
    warm_start = clock()
    warm = 0
    while True:
        elapsed = clock() - warm_start
        if (warm >= WARMUP_QUERIES and elapsed >= WARMUP_DURATION_S) or elapsed >= MAX_DURATION_S:
            break
        once()
        warm += 1

    queries = samples = 0
    duration = 0.0
    latencies = []
    start = clock()
    while True:
        elapsed = clock() - start
        if samples >= args.min_samples and elapsed >= args.min_duration:
            break
        if elapsed >= MAX_DURATION_S:
            break
        issued = clock()
        once()
        done = clock()
        latencies.append(done - issued)
        queries += 1
        samples += args.batch
        duration = done - start

    print(json.dumps(dict(info, **{
        "threads": args.threads,
        "batch_size": args.batch,
        "warmup_queries": warm,
        "queries": queries,
        "samples": samples,
        "duration_s": duration,
        "throughput_per_s": samples / duration if duration > 0 else None,
        # LoadGen's percentile rule, as the harness: sorted[floor(n * p)].
        "latency_p50_ms": sorted(latencies)[len(latencies) // 2] * 1e3 if latencies else None,
    })))
    return 0


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def profile_name(threads: str) -> str:
    if threads == "1":
        return "cpu-1thread"
    if threads == "all":
        return "cpu-all"
    return f"cpu-{threads}threads"


def split_values(values: list[str] | None, default: list[str]) -> list[str]:
    out = []
    for v in values or default:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def ort_dylib_path() -> str:
    """ORT_DYLIB_PATH from the environment, else from `bash ci/setup-python.sh` (its stdout
    is one `ORT_DYLIB_PATH=<shell-quoted path>` line)."""
    if os.environ.get("ORT_DYLIB_PATH"):
        return os.environ["ORT_DYLIB_PATH"]
    cmd = ["bash", str(ROOT / "ci" / "setup-python.sh")]
    print("$ " + shlex.join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RunFailure(f"{shlex.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    for line in p.stdout.splitlines():
        if line.startswith("ORT_DYLIB_PATH="):
            parts = shlex.split(line)
            if len(parts) == 1:
                return parts[0].split("=", 1)[1]
    raise RunFailure(f"{shlex.join(cmd)} printed no ORT_DYLIB_PATH line: {p.stdout!r}")


def run_harness(cmd: list[str], env: dict, out_json: Path) -> dict:
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RunFailure(f"harness failed ({p.returncode}): {shlex.join(cmd)}\n{p.stdout}\n{p.stderr}")
    try:
        results = json.loads(out_json.read_text())["results"]
    except (OSError, ValueError, KeyError) as e:
        raise RunFailure(f"{out_json}: cannot read the harness results: {e}") from e
    if len(results) != 1 or results[0].get("status") != "ok" or not results[0].get("throughput_per_s"):
        raise RunFailure(f"harness gave no single ok result: {json.dumps(results)[:2000]}")
    return results[0]


def run_worker(cmd: list[str], env: dict, side: str) -> dict:
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RunFailure(f"{side} side failed ({p.returncode}): {shlex.join(cmd)}\n{p.stdout}\n{p.stderr}")
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        raise RunFailure(f"{side} side printed no JSON result: {p.stdout!r}") from e
    if not r.get("throughput_per_s"):
        raise RunFailure(f"{side} side measured nothing: {r}")
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--harness", type=Path, default=ROOT / "target" / "release" / "harness")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "vendor-a.onnx")
    ap.add_argument("--threads", action="append",
                    help="1, all or N; repeatable or comma-separated (default: 1,all)")
    ap.add_argument("--batch", action="append", help="batch sizes, repeatable or comma-separated (default: 1,32)")
    ap.add_argument("--repeat", type=int, default=5, help="measurements per side and configuration (default 5)")
    ap.add_argument("--min-duration", type=float, default=5.0,
                    help="seconds measured per measurement, warm-up excluded (default 5)")
    ap.add_argument("--min-samples", type=int, default=DEFAULT_MIN_SAMPLES,
                    help=f"samples measured per measurement at least (default {DEFAULT_MIN_SAMPLES})")
    ap.add_argument("--python-opt-level", choices=["layout", "all"], default="layout",
                    help="Python sides' graph optimisation: layout (= the harness's) or all (ORT_ENABLE_ALL)")
    ap.add_argument("--capi", action="store_true",
                    help="also measure a third side: the harness's own libonnxruntime.so driven through its C API "
                         "with ctypes (the onnxruntime package runs a separate, statically linked copy of the engine)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")
    # Internal: one measurement of a Python side.
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--api", choices=["python", "capi"], default="python", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        return worker(argparse.Namespace(
            model=args.model, threads=int(args.threads[0]), batch=int(args.batch[0]),
            min_duration=args.min_duration, min_samples=args.min_samples,
            opt_level=args.python_opt_level, api=args.api))

    threads_list = split_values(args.threads, ["1", "all"])
    batches = split_values(args.batch, ["1", "32"])
    for t in threads_list:
        if t != "all" and not (t.isdigit() and int(t) >= 1):
            ap.error(f"--threads {t}: expected 1, all or a positive whole number")
    for b in batches:
        if not (b.isdigit() and 1 <= int(b) <= 4096):
            ap.error(f"--batch {b}: expected a whole number between 1 and 4096")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if not (args.min_duration >= 0):
        ap.error("--min-duration must be >= 0")
    if args.min_samples < 0:
        ap.error("--min-samples must be >= 0")
    if not args.harness.is_file():
        print(f"{args.harness}: not found (cargo build --release -p harness-cli)", file=sys.stderr)
        return 2
    if not args.model.is_file():
        print(f"{args.model}: not found", file=sys.stderr)
        return 2

    try:
        dylib = ort_dylib_path()
    except RunFailure as e:
        print(e, file=sys.stderr)
        return 2
    env = dict(os.environ, ORT_DYLIB_PATH=dylib)
    # numpy's OpenBLAS starts a thread pool at import that can spin; nothing here uses BLAS, and
    # on a 2-core machine those threads would compete with ONNX Runtime's.
    wenv = dict(env, OPENBLAS_NUM_THREADS="1")
    model_sha = hashlib.sha256(args.model.read_bytes()).hexdigest()
    sides = ["harness", "python"] + (["capi"] if args.capi else [])

    print(f"model: {args.model} (sha256 {model_sha[:16]}...)")
    print(f"ORT_DYLIB_PATH={dylib}")
    print(f"machine: {os.cpu_count()} logical CPUs, {cpu_model()}; load average at start "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"sides: {', '.join(sides)}; {args.repeat} repeats each, order rotated every repeat; "
          f"min duration {args.min_duration} s, min samples {args.min_samples}; "
          f"python graph optimisation: {args.python_opt_level}")

    configs = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_ort_overhead."))
    try:
        for t in threads_list:
            for b in batches:
                out_json = tmp / f"harness-{t}-{b}.json"
                hcmd = [str(args.harness), "bench", "--model", str(args.model), "--backend", "ort",
                        "--profile", profile_name(t), "--scenario", "offline", "--batch-size", b,
                        "--min-duration", repr(args.min_duration), "--min-queries", str(args.min_samples),
                        "--json", str(out_json)]
                cfg = {"threads_arg": t, "profile": profile_name(t), "batch_size": int(b),
                       "commands": {"harness": hcmd}, "order": [], "info": {},
                       **{side: [] for side in sides}, **{f"{side}_p50_ms": [] for side in sides}}
                print(f"\n== threads {t} ({cfg['profile']}), batch {b}, offline")
                print(f"$ ORT_DYLIB_PATH={shlex.quote(dylib)} {shlex.join(hcmd)}")
                # The Python sides take their thread count from the harness's report (cpu-all =
                # Rust's available_parallelism), so every configuration starts with the harness.
                threads = None
                for i in range(args.repeat):
                    order = sides[i % len(sides):] + sides[:i % len(sides)]
                    for side in order:
                        if side == "harness":
                            r = run_harness(hcmd, env, out_json)
                            if threads is None:
                                threads = int(r["threads"])
                            elif int(r["threads"]) != threads:
                                raise RunFailure(f"harness threads changed: {threads} -> {r['threads']}")
                            cfg["info"]["harness"] = {"backend_version": r.get("backend_version")}
                            p50 = (r.get("latency_ms") or {}).get("p50")
                        else:
                            wcmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--api", side,
                                    "--model", str(args.model), "--threads", str(threads), "--batch", b,
                                    "--min-duration", repr(args.min_duration),
                                    "--min-samples", str(args.min_samples),
                                    "--python-opt-level", args.python_opt_level]
                            if side not in cfg["commands"]:
                                print(f"$ OPENBLAS_NUM_THREADS=1 ORT_DYLIB_PATH={shlex.quote(dylib)} "
                                      f"{shlex.join(wcmd)}")
                                cfg["commands"][side] = wcmd
                            r = run_worker(wcmd, wenv, side)
                            cfg["info"][side] = {k: r[k] for k in
                                                 ("onnxruntime", "engine_binary", "libonnxruntime_loaded",
                                                  "graph_optimization_level", "input_shape")}
                            p50 = r.get("latency_p50_ms")
                        cfg[side].append(r["throughput_per_s"])
                        cfg[f"{side}_p50_ms"].append(p50)
                        cfg["order"].append(side)
                    print(f"  repeat {i + 1}: " + "  ".join(f"{side} {cfg[side][-1]:9.1f}/s" for side in sides)
                          + f"  (order {' '.join(order)})", flush=True)
                cfg["threads"] = threads
                summarise(cfg, sides)
                configs.append(cfg)
    except RunFailure as e:
        print(e, file=sys.stderr)
        return 2
    finally:
        for f in tmp.glob("*"):
            f.unlink()
        tmp.rmdir()

    print("\nload average at end " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"harness side: {configs[0]['info']['harness']['backend_version']}")
    for side in sides[1:]:
        info = configs[0]["info"][side]
        print(f"{side} side: onnxruntime {info['onnxruntime']}, engine {info['engine_binary']}, "
              f"libonnxruntime.so loaded: {info['libonnxruntime_loaded']}, {info['graph_optimization_level']}")
    print_table(configs, sides)

    if args.json:
        doc = {
            "model": str(args.model), "model_sha256": model_sha, "ort_dylib_path": dylib,
            "logical_cpus": os.cpu_count(), "cpu_model": cpu_model(), "sides": sides,
            "repeat": args.repeat, "min_duration_s": args.min_duration, "min_samples": args.min_samples,
            "warmup_queries": WARMUP_QUERIES, "warmup_duration_s": WARMUP_DURATION_S,
            "python_graph_optimization": args.python_opt_level, "target_ratio": TARGET_RATIO,
            "configs": configs,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def summarise(cfg: dict, sides: list[str]) -> None:
    """Medians per side and the harness/other ratios (of medians, median of paired repeats, and
    of p50 latencies: other p50 / harness p50, which reads like a throughput ratio)."""
    for side in sides:
        cfg[f"{side}_median"] = statistics.median(cfg[side])
        p50 = [x for x in cfg[f"{side}_p50_ms"] if x]
        cfg[f"{side}_p50_median_ms"] = statistics.median(p50) if p50 else None
    for side in sides[1:]:
        cfg[f"ratio_vs_{side}"] = cfg["harness_median"] / cfg[f"{side}_median"]
        cfg[f"paired_ratio_vs_{side}"] = statistics.median(h / o for h, o in zip(cfg["harness"], cfg[side]))
        hp, op = cfg["harness_p50_median_ms"], cfg[f"{side}_p50_median_ms"]
        cfg[f"p50_ratio_vs_{side}"] = op / hp if hp and op else None
        cfg[f"verdict_vs_{side}"] = "PASS" if cfg[f"ratio_vs_{side}"] >= TARGET_RATIO else "BELOW TARGET"
    # The headline figure of the brief: harness / onnxruntime Python package.
    cfg["ratio"], cfg["verdict"] = cfg["ratio_vs_python"], cfg["verdict_vs_python"]


def print_table(configs: list[dict], sides: list[str]) -> None:
    def fmt(x):
        return f"{x:>6.3f}" if x is not None else f"{'-':>6}"

    head = f"{'threads':>7} {'batch':>5} " + " ".join(f"{side + '/s':>10}" for side in sides)
    for side in sides[1:]:
        head += f" | vs {side:<6} {'ratio':>6} {'paired':>6} {'p50':>6} verdict"
    print(head)
    print("-" * len(head))
    for c in configs:
        line = f"{c['threads']:>7} {c['batch_size']:>5} " + " ".join(f"{c[side + '_median']:>10.1f}" for side in sides)
        for side in sides[1:]:
            line += (f" | {'':<9} {fmt(c['ratio_vs_' + side])} {fmt(c['paired_ratio_vs_' + side])} "
                     f"{fmt(c['p50_ratio_vs_' + side])} {c['verdict_vs_' + side]}")
        print(line)
    print("samples/s: medians of the repeats. ratio = harness median / other median (target >= "
          f"{TARGET_RATIO}, i.e. harness overhead <= 3 %); paired = median of the per-repeat ratios; "
          "p50 = other's median p50 latency / harness's (per query; less sensitive to preemption).")
    for c in configs:
        for side in sides[1:]:
            print(f"ratio_{'' if side == 'python' else side + '_'}t{c['threads']}_b{c['batch_size']}="
                  f"{c['ratio_vs_' + side]:.3f} (target >= {TARGET_RATIO}) {c['verdict_vs_' + side]}")


if __name__ == "__main__":
    sys.exit(main())
