#!/usr/bin/env python3
"""Hospital-scale benchmark of `harness run`: peak memory and throughput on full-size images,
against a Python pipeline a user would write, measured in the same run on the same threads.

    python3 ci/bench_pipeline.py [--sizes 1000,3000] [--width 32] [--primary tract,ort]

Set-up (idempotent): `bash ci/setup-python.sh --bench` (numpy, pillow, onnx, onnxruntime) and a
release build. Data and models are generated, seeded, under target/bench-pipeline/ (not
committed): grey 8-bit 768x768 PNGs (smooth anatomy-like background, noise, a bright blob on
positives) and the ResNet-style model of ci/gen_realistic_models.py at --width channels.

For each size N and each primary engine, the suite evaluates two candidates: the shipped
vendor-a model (64x64 grey) and the ResNet-style model (224x224x3, grey replicated to RGB, ImageNet
normalisation). Measured, each as its own process:
  harness      `harness run --no-perf`: wall time, peak RSS (cases/s = N / wall). A run reads
               the dataset for the registry check only where a file changed since a run hashed
               it (.harness-cache/ beside datasets.toml): the first run after the cache is
               removed (`cold`, timed once) reads every file twice, later runs once (timed
               --repeat times; these give wall, cases/s and the ratios)
  python       PIL decode in a thread pool, PIL bilinear resize, numpy normalise, onnxruntime
               (both models, batch 32, one decode per image): wall, peak RSS
  decode-only  every image read, hashed and decoded by the harness's own code, in parallel
  raw engine   the primary engine alone on pre-decoded tensors, N cases' worth of batches
Also printed, for information: the cold run's wall time and its ratio to the floor (cold s,
cold/floor), the whole-dataset hash check without the cache (hash s) and the preprocessing for
every candidate (prep s = decode-and-preprocess minus decode-only), work a cold run must do that
the floor leaves out, and wall/work = cold wall / (floor + both).
Targets (printed PASS/FAIL): peak RSS <= 1 GiB at the largest N; RSS(largest)/RSS(smallest) <= 1.2;
throughput >= the Python pipeline's (with the same engine, ort); wall <= 1.15 x (decode-only +
raw engine). This VM is noisy (+-20 %); compare ratios from one run only.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WORK = os.path.join(ROOT, "target", "bench-pipeline")
HARNESS = os.path.join(ROOT, "target", "release", "harness")
STAGES = os.path.join(ROOT, "target", "release", "examples", "stage_times")
SIDE = 768


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_images(n, folder):
    """n seeded 768x768 grey PNGs; each image has its own generator, so a missing one is
    regenerated identically and existing ones are skipped."""
    import numpy as np
    from PIL import Image

    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    rows = ["case_id,image,label,site"]
    made = 0
    for i in range(n):
        rng = np.random.default_rng([20261202, i])
        label = int(rng.random() < 0.3)
        site = "ABC"[i % 3]
        name = f"images/b{i:05d}.png"
        path = os.path.join(folder, name)
        rows.append(f"c{i:05d},{name},{label},{site}")
        if os.path.exists(path):
            continue
        cx, cy, r = rng.uniform(200, 568, 2).tolist() + [rng.uniform(20, 60)]
        low = rng.normal(0, 1, (12, 12)).astype(np.float32)
        bg = np.asarray(Image.fromarray(low).resize((SIDE, SIDE), Image.BICUBIC))
        img = 110 + 25 * bg + rng.normal(0, 6, (SIDE, SIDE)).astype(np.float32)
        img += 60 * np.exp(-((xx - SIDE / 2) ** 2 / 9e4 + (yy - SIDE / 2) ** 2 / 1.6e5))
        if label:
            img += 50 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        # Fast zlib level: generation time is set-up, not what is measured. Written under a
        # temporary name so that an interrupted run never leaves a truncated image.
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path + ".tmp", format="PNG", compress_level=1)
        os.replace(path + ".tmp", path)
        made += 1
    if made:
        log(f"generated {made} grey {SIDE}x{SIDE} PNGs in {folder}")
    with open(os.path.join(folder, "labels.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")


def folder_sha256(folder):
    listing = []
    for dirpath, _, files in os.walk(folder):
        for fn in files:
            p = os.path.join(dirpath, fn)
            listing.append((os.path.relpath(p, folder).replace(os.sep, "/"), p))
    listing.sort(key=lambda t: t[0].encode())
    text = "".join(f"{sha256_file(p)}  {rel}\n" for rel, p in listing)
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_data(sizes):
    biggest = max(sizes)
    full = os.path.join(WORK, f"data-{biggest}")
    make_images(biggest, full)
    entries = []
    for n in sizes:
        folder = os.path.join(WORK, f"data-{n}")
        if n != biggest:
            os.makedirs(os.path.join(folder, "images"), exist_ok=True)
            with open(os.path.join(full, "labels.csv")) as f:
                lines = f.read().splitlines()[: n + 1]
            for line in lines[1:]:
                img = line.split(",")[1]
                dst = os.path.join(folder, img)
                if not os.path.exists(dst):
                    os.link(os.path.join(full, img), dst)  # hard link: a regular file, no copy
            with open(os.path.join(folder, "labels.csv"), "w") as f:
                f.write("\n".join(lines) + "\n")
        entries.append(
            f'[datasets.bench-{n}]\ntitle = "benchmark {n}"\nformat = "image-folder"\npath = "data-{n}"\n'
            f'labels = "labels.csv"\nid_column = "case_id"\nimage_column = "image"\nlabel = "label"\n'
            f'positive_class = "1"\nlabel_meaning = "1 = blob"\nsubgroups = ["site"]\n'
            f'sha256 = "{folder_sha256(folder)}"\nsynthetic = true\nlicence = "CC0-1.0"\nprovenance = "ci/bench_pipeline.py"\n'
        )
    with open(os.path.join(WORK, "datasets.toml"), "w") as f:
        f.write("\n".join(entries))


def ensure_models(width):
    out = os.path.join(WORK, f"models-w{width}")
    model = os.path.join(out, "resnet-style.onnx")
    if not os.path.exists(model):
        subprocess.run([sys.executable, os.path.join(ROOT, "ci", "gen_realistic_models.py"), "--out", out,
                        "--width", str(width)], check=True, stdout=subprocess.DEVNULL)
    os.makedirs(os.path.join(WORK, "models"), exist_ok=True)
    a = os.path.join(WORK, "models", "vendor-a.onnx")
    if not os.path.exists(a):
        with open(os.path.join(ROOT, "models", "vendor-a.onnx"), "rb") as s, open(a, "wb") as d:
            d.write(s.read())
    return model, a


VENDOR_A = dict(size=64, channels=1, mean=[0.5], std=[0.25])
RESNET = dict(size=224, channels=3, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


def write_suite(n, primary, resnet, vendor_a):
    def pre(p):
        order = "gray" if p["channels"] == 1 else "rgb"
        return (f'{{ size = [{p["size"]}, {p["size"]}], channels = {p["channels"]}, channel_order = "{order}", '
                f'scale = 0.00392156862745098, mean = {p["mean"]}, std = {p["std"]}, layout = "nchw" }}')
    path = os.path.join(WORK, f"suite-{n}-{primary}.toml")
    with open(path, "w") as f:
        f.write(f'name = "bench"\nversion = "1"\ndataset = "bench-{n}"\n[inference]\nprimary_backend = "{primary}"\n'
                f'batch_size = 32\n[metrics]\nbootstrap = 0\nseed = 1\n[performance]\nskip = true\n[limits]\nmax_cases = 100000\n')
        for name, model, p, out in [("vendor-a", vendor_a, VENDOR_A, "probability"), ("resnet", resnet, RESNET, "logit")]:
            f.write(f'[[candidates]]\nname = "{name}"\nmodel = "{os.path.relpath(model, WORK)}"\nsha256 = "{sha256_file(model)}"\n'
                    f'backends = ["{primary}"]\npreprocess = {pre(p)}\noutput = {{ kind = "{out}", positive_index = 0 }}\n')
    return path


def timed(cmd, env=None):
    """Runs cmd; returns (wall seconds, peak RSS bytes of that process, stdout)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, rusage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({p.returncode}): {err.decode()[-2000:]}")
    return wall, rusage.ru_maxrss * 1024, out


def python_reference(labels_csv, resnet, vendor_a, threads):
    """What a user would write: PIL decode in a thread pool, resize, normalise, onnxruntime."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import onnxruntime as ort
    from PIL import Image

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = {k: ort.InferenceSession(m, opts, providers=["CPUExecutionProvider"]) for k, m in [("a", vendor_a), ("r", resnet)]}
    folder = os.path.dirname(labels_csv)
    with open(labels_csv) as f:
        paths = [os.path.join(folder, line.split(",")[1]) for line in f.read().splitlines()[1:]]
    mean, std = np.array(RESNET["mean"], np.float32)[:, None, None], np.array(RESNET["std"], np.float32)[:, None, None]

    def load(path):
        img = Image.open(path).convert("L")
        a = (np.asarray(img.resize((64, 64), Image.BILINEAR), np.float32) / 255 - 0.5) / 0.25
        r = np.asarray(img.resize((224, 224), Image.BILINEAR), np.float32) / 255
        return a[None], (np.repeat(r[None], 3, 0) - mean) / std

    scores = []
    with ThreadPoolExecutor(threads) as pool:
        for start in range(0, len(paths), 32):
            batch = list(pool.map(load, paths[start:start + 32]))
            pa = sess["a"].run(None, {sess["a"].get_inputs()[0].name: np.stack([b[0] for b in batch])})[0]
            pr = sess["r"].run(None, {sess["r"].get_inputs()[0].name: np.stack([b[1] for b in batch])})[0]
            scores.extend(zip(pa.reshape(-1).tolist(), pr.reshape(-1).tolist()))
    print(len(scores))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,3000")
    ap.add_argument("--width", type=int, default=32, help="ResNet-style channels (torchvision: 64)")
    ap.add_argument("--primary", default="tract,ort", help="primary engines to run the suite with")
    ap.add_argument("--repeat", type=int, default=1, help="measure each contender this many times; the fastest counts")
    ap.add_argument("--json", default=os.path.join(WORK, "bench_pipeline.json"))
    ap.add_argument("--reference", nargs=4, metavar=("LABELS", "RESNET", "VENDOR_A", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reference:
        python_reference(*args.reference[:3], int(args.reference[3]))
        return
    for exe in (HARNESS, STAGES):
        if not os.path.exists(exe):
            sys.exit(f"{exe} missing: cargo build --release --workspace --all-targets")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    os.makedirs(WORK, exist_ok=True)
    ensure_data(sizes)
    resnet, vendor_a = ensure_models(args.width)
    threads = os.cpu_count()
    env = dict(os.environ)
    registry = os.path.join(WORK, "datasets.toml")
    results = []
    for n in sizes:
        labels = os.path.join(WORK, f"data-{n}", "labels.csv")
        # Warm the page cache so that every contender reads from memory.
        subprocess.run(["cat", labels], stdout=subprocess.DEVNULL)
        for f in os.listdir(os.path.join(WORK, f"data-{n}", "images")):
            with open(os.path.join(WORK, f"data-{n}", "images", f), "rb") as fh:
                fh.read()
        py = [timed([sys.executable, __file__, "--reference", labels, resnet, vendor_a, str(threads)]) for _ in range(args.repeat)]
        py_wall, py_rss = min(p[0] for p in py), max(p[1] for p in py)
        log(f"n={n} python: {py_wall:.1f} s, {py_rss / 2**20:.0f} MiB")
        for primary in args.primary.split(","):
            suite = write_suite(n, primary, resnet, vendor_a)
            out = os.path.join(WORK, f"out-{n}-{primary}")
            cmd = [HARNESS, "run", suite, "--registry", registry, "--no-perf", "--out", out]
            shutil.rmtree(os.path.join(WORK, ".harness-cache"), ignore_errors=True)
            cold, cold_rss, _ = timed(cmd, env)
            runs = [timed(cmd, env) for _ in range(args.repeat)]
            wall, rss = min(r[0] for r in runs), max([cold_rss] + [r[1] for r in runs])
            floors = [json.loads(timed([STAGES, suite, registry], env)[2]) for _ in range(args.repeat)]
            st = min(floors, key=lambda f: f["decode_s"] + f["engine_total_s"])
            floor = st["decode_s"] + st["engine_total_s"]
            prep = max(st["prepare_s"] - st["decode_s"], 0.0)
            r = dict(n=n, primary=primary, wall_s=wall, peak_rss_mib=rss / 2**20, cases_per_s=n / wall,
                     python_wall_s=py_wall, python_peak_rss_mib=py_rss / 2**20, python_cases_per_s=n / py_wall,
                     decode_s=st["decode_s"], engine_s=st["engine_s"], engine_total_s=st["engine_total_s"],
                     throughput_ratio=py_wall / wall, wall_over_floor=wall / floor,
                     # Information: the first run's check reads the dataset once more.
                     cold_wall_s=cold, cold_over_floor=cold / floor,
                     # Information: the floor plus the work a cold run must do that it leaves out.
                     hash_s=st["hash_s"], preprocess_s=prep,
                     wall_over_work=cold / (floor + st["hash_s"] + prep))
            log(f"n={n} harness ({primary}): {wall:.1f} s (cold {cold:.1f} s), {rss / 2**20:.0f} MiB; "
                f"decode-only {st['decode_s']:.1f} s, engine {st['engine_total_s']:.1f} s")
            results.append(r)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)

    print(f"threads: {threads}; width {args.width}; JSON: {args.json}")
    print(f"{'N':>6} {'primary':>7} {'wall s':>7} {'cases/s':>8} {'RSS MiB':>8} {'py cases/s':>10} {'py RSS':>7} "
          f"{'decode s':>8} {'engine s':>8} {'vs python':>9} {'wall/floor':>10} {'cold s':>6} {'cold/floor':>10} "
          f"{'hash s':>6} {'prep s':>6} {'wall/work':>9}")
    for r in results:
        print(f"{r['n']:>6} {r['primary']:>7} {r['wall_s']:>7.1f} {r['cases_per_s']:>8.1f} {r['peak_rss_mib']:>8.0f} "
              f"{r['python_cases_per_s']:>10.1f} {r['python_peak_rss_mib']:>7.0f} {r['decode_s']:>8.1f} "
              f"{r['engine_total_s']:>8.1f} {r['throughput_ratio']:>8.2f}x {r['wall_over_floor']:>10.2f} "
              f"{r['cold_wall_s']:>6.1f} {r['cold_over_floor']:>10.2f} "
              f"{r['hash_s']:>6.2f} {r['preprocess_s']:>6.2f} {r['wall_over_work']:>9.2f}")
    ok = True
    big, small = max(sizes), min(sizes)
    for primary in args.primary.split(","):
        rb = next(r for r in results if r["n"] == big and r["primary"] == primary)
        rs = next(r for r in results if r["n"] == small and r["primary"] == primary)
        checks = [(f"peak RSS at {big} <= 1024 MiB", rb["peak_rss_mib"], rb["peak_rss_mib"] <= 1024),
                  (f"RSS({big})/RSS({small}) <= 1.2", rb["peak_rss_mib"] / rs["peak_rss_mib"], rb["peak_rss_mib"] / rs["peak_rss_mib"] <= 1.2),
                  ("wall <= 1.15 x (decode-only + raw engine)", rb["wall_over_floor"], rb["wall_over_floor"] <= 1.15)]
        if primary == "ort":
            checks.append(("throughput >= python (same engine)", rb["throughput_ratio"], rb["throughput_ratio"] >= 1.0))
        for name, value, passed in checks:
            ok &= passed
            print(f"{'PASS' if passed else 'FAIL'}  [{primary}] {name}: {value:.2f}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
