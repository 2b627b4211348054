"""The ``labkit`` command line (as quiet as the notebooks: ``import labkit`` filters TensorFlow's native log
lines, see ``labkit.quiet``)."""

from __future__ import annotations

import argparse
import sys

from labkit import assign, autograde, grading, handin, runner
from labkit.errors import LabkitError


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
    handin.add_cli(sub)  # labkit check
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LabkitError as exc:
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
