"""Generate (or check) the embedded default `glyphs`: ``python data_prep/glyphs.py [DATA_ROOT]
[--num-classes 320 --samples-per-class 24 --image-size 32 --seed 0]``.

Nothing to download: the characters are drawn with the fonts that ship inside matplotlib. The arrays
are cached as DATA_ROOT/glyphs/glyphs-<key>.npz (default root: $PML_DATA_ROOT or ~/.cache/pml-kit/data);
training generates them on first use anyway, this script only does it ahead of time and prints a summary.
"""

import argparse
import sys
import time
from pathlib import Path

from _common import Checklist


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("data_root", type=Path, nargs="?", default=None)
    p.add_argument("--num-classes", type=int, default=320)
    p.add_argument("--samples-per-class", type=int, default=24)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--montage", type=Path, help="also save a PNG montage (one row per class, first 24 classes)")
    args = p.parse_args(argv)
    from pml_core.config import GlyphsParams
    from pml_core.data.glyphs import cache_key, default_data_root, load_glyphs

    root = args.data_root or default_data_root()
    params = GlyphsParams(num_classes=args.num_classes, samples_per_class=args.samples_per_class,
                          image_size=args.image_size, seed=args.seed)
    check = Checklist("glyphs (embedded default)")
    path = root / "glyphs" / f"glyphs-{cache_key(args.num_classes, args.samples_per_class, args.image_size, args.seed)}.npz"
    existed = path.is_file()
    start = time.perf_counter()
    arrays = load_glyphs(params, root)
    (check.ok if existed else check.did)(f"{path} ({'reused' if existed else 'generated'} in {time.perf_counter() - start:.1f} s)")
    half = args.num_classes // 2
    check.ok(f"{len(arrays['labels'])} images {arrays['images'].shape[1:]} uint8, {args.num_classes} classes: "
             f"train {half} classes / test {args.num_classes - half} classes")
    check.ok("characters: " + "".join(arrays["chars"][:60]) + ("..." if args.num_classes > 60 else ""))
    if args.montage:
        import numpy as np
        from PIL import Image

        rows = [np.concatenate(list(arrays["images"][arrays["labels"] == c][:16]), axis=1)
                for c in range(min(24, args.num_classes))]
        Image.fromarray(np.concatenate(rows, axis=0)).save(args.montage)
        check.did(f"montage written to {args.montage}")
    return check.finish(f"ready: dataset_params.name=glyphs, data root {root}")


if __name__ == "__main__":
    sys.exit(main())
