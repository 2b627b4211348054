"""Batch wall time of `labkit grade` on the test batch: --jobs 1 against --jobs 2, in one run."""

import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from labkit import attacks, grading, images, models  # noqa: E402

BATCH = Path(__file__).resolve().parent.parent / "tests" / "grading_batch"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subs = tmp / "subs"
        shutil.copytree(BATCH, subs)
        model = models.load_model("efficientnet_lite0")
        r = attacks.fooling_images(model, images.load_batch(["chelsea"], 224), [6], progress=False)
        np.save(tmp / "fooled_to_6.npy", r.images[0].astype(np.float32))
        n = len(grading.discover(subs))
        times = {}
        for jobs in (1, 2):
            t = time.perf_counter()
            grading.grade(subs, 2, tmp / f"out{jobs}", jobs=jobs, timeout=120, cell_timeout=8, memory_mb=2048,
                          parameters={"fooled_npy": str(tmp / "fooled_to_6.npy")}, progress=False)
            times[jobs] = time.perf_counter() - t
    print(f"{n} submissions: --jobs 1 {times[1]:.1f} s, --jobs 2 {times[2]:.1f} s, speed-up {times[1] / times[2]:.2f}x")


if __name__ == "__main__":
    main()
