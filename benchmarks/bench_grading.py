"""Submissions graded per minute by `labkit grade` on the test batch, side by side in one run: --jobs 1 and 2 (a
LocalCluster of that many workers, started by the command), a 2-worker cluster started beforehand and passed as
the scheduler (as a Slurm or Kubernetes cluster would be, so its start-up is not counted), and --jobs 2 without
the sandbox (what the sandbox costs).

    .venv/bin/python benchmarks/bench_grading.py [--copies 2]
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import labkit  # noqa: F401 - first: quiets TensorFlow's native log lines (labkit.quiet)

# isort: split
import numpy as np  # noqa: E402

from labkit import attacks, grading, images, models  # noqa: E402

BATCH = Path(__file__).resolve().parent.parent / "tests" / "grading_batch"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2, help="copies of the 9-submission test batch")
    args = parser.parse_args()
    from distributed import LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        flat = tmp / "subs"
        flat.mkdir()
        for i in range(args.copies):  # each student of the batch, args.copies times
            for entry in BATCH.iterdir():
                if entry.is_dir():
                    shutil.copytree(entry, flat / f"{entry.name}_{i}")
                else:
                    shutil.copyfile(entry, flat / f"{entry.stem}_{i}{entry.suffix}")
        model = models.load_model("efficientnet_lite0")
        r = attacks.fooling_images(model, images.fit_batch(["chelsea"], 224), [6], progress=False)
        fooled = tmp / "fooled_to_6.npy"
        np.save(fooled, r.images[0].astype(np.float32))
        n = len(grading.find_submissions(flat))
        common = {"timeout": 120, "cell_timeout": 8, "memory_mb": 2048, "parameters": {"fooled_npy": str(fooled)},
                  "data": [fooled], "progress": False, "regrade": True}
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        runs = {"--jobs 1": {"jobs": 1}, "--jobs 2": {"jobs": 2}, "2-worker cluster, started before": {"scheduler":
                cluster}, "--jobs 2 --no-sandbox": {"jobs": 2, "sandbox": False}}
        rates = {}
        for name, kw in runs.items():
            t = time.perf_counter()
            grading.grade(flat, 2, tmp / "out", **common, **kw)
            rates[name] = n / (time.perf_counter() - t) * 60
        cluster.close()
    print(f"{n} submissions of the test batch (lab 2, lite0, each in its own sandboxed kernel), 2 CPU cores:")
    for name, rate in rates.items():
        print(f"  {name:<34} {rate:6.1f} submissions per minute ({rate / rates['--jobs 1']:.2f}x --jobs 1)")


if __name__ == "__main__":
    main()
