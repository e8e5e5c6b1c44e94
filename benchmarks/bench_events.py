"""Event-file throughput at 128x128 on one core: decode (AEDAT 2.0, AEDAT 3.1), bin to frames, and the
frame cache that replaces both after the first epoch.

    OMP_NUM_THREADS=1 python benchmarks/bench_events.py --out docs/results/bench-events-20261206

Recordings are generated in the real byte layouts with the event counts of the real sets (CIFAR10-DVS
averages about 200k events per recording; a DVS128 Gesture trial holds a few million). Prints a table and
writes bench_events.json; each figure is the median of --repeats runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "data"))  # the AEDAT writers of the tests
from dvs_file_writers import random_events, write_aedat2, write_gesture_trial  # noqa: E402

from smolmamba.data.aedat import read_aedat2, read_aedat31  # noqa: E402
from smolmamba.data.event_folder import save_frames  # noqa: E402
from smolmamba.data.events import events_to_frames  # noqa: E402


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar-events", type=int, default=200_000)
    parser.add_argument("--gesture-events", type=int, default=2_000_000)
    parser.add_argument("--T", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cifar, gesture = tmp / "cifar.aedat", tmp / "gesture.aedat"
        write_aedat2(cifar, **random_events(rng, args.cifar_events, 1_300_000))
        write_gesture_trial(gesture, random_events(rng, args.gesture_events, 6_000_000), chunk=5000)
        for label, path, reader, n in (("AEDAT 2.0 (CIFAR10-DVS recording)", cifar, read_aedat2, args.cifar_events),
                                       ("AEDAT 3.1 (DVS128 Gesture trial)", gesture, read_aedat31,
                                        args.gesture_events)):
            events = reader(path)
            assert events["t"].size == n
            decode = median_seconds(lambda: reader(path), args.repeats)
            binning = median_seconds(lambda: events_to_frames(events, args.T, (128, 128)), args.repeats)
            rows.append({"what": f"decode {label}", "events": n, "seconds": decode, "events_per_s": n / decode})
            rows.append({"what": f"bin to {args.T} frames, {label}", "events": n, "seconds": binning,
                         "events_per_s": n / binning})
        frames = events_to_frames(read_aedat2(cifar), args.T, (128, 128))
        cached = tmp / "sample.npz"
        save_frames(cached, frames)

        def load():
            with np.load(cached) as z:
                return z["frames"]
        load_s = median_seconds(load, args.repeats)
        first_s = median_seconds(lambda: events_to_frames(read_aedat2(cifar), args.T, (128, 128)), args.repeats)
        rows.append({"what": "CIFAR10-DVS sample, first epoch (decode + bin)", "seconds": first_s,
                     "samples_per_s": 1 / first_s})
        rows.append({"what": f"CIFAR10-DVS sample, from the cache ({cached.stat().st_size / 2**10:.0f} KiB npz)",
                     "seconds": load_s, "samples_per_s": 1 / load_s})
    print(f"{'what':58s} {'ms':>9s} {'events/s':>12s} {'samples/s':>10s}")
    for r in rows:
        eps = f"{r['events_per_s'] / 1e6:9.1f} M" if "events_per_s" in r else ""
        sps = f"{r['samples_per_s']:10.1f}" if "samples_per_s" in r else ""
        print(f"{r['what']:58s} {1000 * r['seconds']:9.2f} {eps:>12s} {sps:>10s}")
    args.out.mkdir(parents=True, exist_ok=True)
    machine = {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
               "numpy": np.__version__, "threads": 1}
    (args.out / "bench_events.json").write_text(json.dumps({"machine": machine, "T": args.T, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
