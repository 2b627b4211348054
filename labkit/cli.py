"""The ``labkit`` command line."""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
from contextlib import contextmanager

from labkit import assign, autograde, grading, runner
from labkit.errors import LabkitError

# TensorFlow's C++ lines that come before absl is initialised, so TF_CPP_MIN_LOG_LEVEL cannot hold them back:
# "WARNING: All log messages before absl::InitializeLog() ...", "I0000 00:00:... cudart_stub.cc:31] ...",
# "I0000 ... port.cc:153] oneDNN custom operations are on ..."
NATIVE_LOG = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} \d\d:\d\d:\d\d)")


@contextmanager
def native_logs_filtered():
    """Drop TensorFlow's native log lines from this process's stderr (file descriptor 2); pass the rest on."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read, write = os.pipe()
    except OSError:  # no real stderr (an embedding host): nothing to filter
        yield
        return
    os.dup2(write, 2)
    os.close(write)

    def forward():
        with os.fdopen(read, "rb") as pipe:
            for line in pipe:
                if not NATIVE_LOG.match(line):
                    os.write(saved, line)

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the thread reads to the end
        thread.join(5)
        os.close(saved)


def _classify(args) -> int:
    from labkit import imagenet, images, models
    from labkit.device import device_line

    photos = args.images or list(images.BUNDLED)
    loaded = images.load_images(photos)  # a missing photo fails here, before TensorFlow loads
    print(device_line())
    model = models.load_model(args.model)
    batch = images.fit_batch(loaded, models.input_size(model))
    for photo, top in zip(photos, imagenet.decode(models.predict(model, batch), top=args.top), strict=True):
        print(f"{photo}: " + ", ".join(imagenet.label(i, p) for i, _, p in top))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("classify", help="classify photos (bundled ones by default) and print the device line")
    p.add_argument("images", nargs="*", help="bundled photo names or image paths")
    p.add_argument("--model", default="auto", help="registry model name (default: auto)")
    p.add_argument("--top", type=int, default=5)
    p.set_defaults(func=_classify)
    runner.add_cli(sub)  # labkit run
    grading.add_cli(sub)  # labkit grade
    assign.add_cli(sub, autograde.exporters())  # labkit assign (--format otter, nbgrader: labkit.autograde)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with native_logs_filtered():
        try:
            return args.func(args)
        except LabkitError as exc:
            print(f"labkit: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    raise SystemExit(main())
