"""docs/datasets.md, "Bring your own images": the walkthrough's commands, run as written on a folder of
ten classes of PIL-drawn PNG images (shapes under random colour, pose, size, clutter and noise)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from conftest import ROOT

SHAPES = ("circle", "square", "triangle", "star", "cross", "ring", "diamond", "hexagon", "crescent", "arrow")


def _polygon(shape: str, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Unit-scale outline of ``shape`` around (0, 0), randomly rotated."""
    if shape == "square":
        points = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    elif shape == "triangle":
        points = [(math.cos(a), math.sin(a)) for a in np.linspace(-math.pi / 2, 1.5 * math.pi, 4)[:-1]]
    elif shape == "star":
        points = [((1.0 if i % 2 == 0 else 0.42) * math.cos(math.pi * i / 5 - math.pi / 2),
                   (1.0 if i % 2 == 0 else 0.42) * math.sin(math.pi * i / 5 - math.pi / 2)) for i in range(10)]
    elif shape == "cross":
        w = 0.33
        points = [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w),
                  (-w, -w)]
    elif shape == "diamond":
        points = [(0, -1), (0.6, 0), (0, 1), (-0.6, 0)]
    elif shape == "hexagon":
        points = [(math.cos(math.pi * i / 3), math.sin(math.pi * i / 3)) for i in range(6)]
    elif shape == "arrow":
        points = [(-1, -0.25), (0.2, -0.25), (0.2, -0.65), (1, 0), (0.2, 0.65), (0.2, 0.25), (-1, 0.25)]
    else:
        raise ValueError(shape)
    angle = rng.uniform(-math.pi, math.pi)
    c, s = math.cos(angle), math.sin(angle)
    return [(c * x - s * y, s * x + c * y) for x, y in points]


def draw_shape(shape: str, rng: np.random.Generator, size: tuple[int, int] = (80, 64)) -> Image.Image:
    """One RGB image of ``shape``: gradient background, a few clutter strokes, the filled shape, blur, noise."""
    width, height = size
    low, high = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0, 1, width)[None, :, None]
    background = (low * (1 - ramp) + high * ramp) * np.ones((height, 1, 1))
    image = Image.fromarray(background.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):  # clutter
        xy = [tuple(rng.uniform(0, [width, height])) for _ in range(2)]
        draw.line(xy, fill=tuple(int(v) for v in rng.integers(0, 256, 3)), width=int(rng.integers(1, 3)))
    mean_background = background.mean(axis=(0, 1))
    colour = np.where(mean_background > 127, rng.integers(0, 70, 3), rng.integers(185, 256, 3))  # contrast
    fill = tuple(int(v) for v in colour)
    radius = rng.uniform(0.25, 0.42) * min(width, height)
    cx, cy = rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)
    box = [cx - radius, cy - radius, cx + radius, cy + radius]
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "ring":
        draw.ellipse(box, outline=fill, width=max(2, int(radius * 0.3)))
    elif shape == "crescent":
        draw.ellipse(box, fill=fill)
        angle = rng.uniform(-math.pi, math.pi)
        dx, dy = 0.45 * radius * math.cos(angle), 0.45 * radius * math.sin(angle)
        inner = tuple(int(v) for v in background[int(min(max(cy, 0), height - 1)), int(min(max(cx, 0), width - 1))])
        draw.ellipse([box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy], fill=inner)
    else:
        draw.polygon([(cx + radius * x, cy + radius * y) for x, y in _polygon(shape, rng)], fill=fill)
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 0.8))))
    pixels = np.asarray(image, np.float32) + rng.normal(0, 8, (height, width, 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def make_image_folder(root, classes=SHAPES, per_class: int = 24, seed: int = 0) -> None:
    """``root/<shape>/<shape>_NNN.png``: ``per_class`` images of each of ``classes`` (sizes vary, 64-96 px)."""
    rng = np.random.default_rng(seed)
    for shape in classes:
        (root / shape).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            size = (int(rng.integers(64, 97)), int(rng.integers(64, 97)))
            draw_shape(shape, rng, size).save(root / shape / f"{shape}_{index:03d}.png")


# ------------------------------------------------------------------------------------------------------------------
# The walkthrough's commands, as written.

DOC = ROOT / "docs" / "datasets.md"
SECTION = "Bring your own images"
OUTPUTS = {"runs", "results", "reports", ".git", "__pycache__", ".pytest_cache"}


def section_blocks(text: str, section: str) -> list[str]:
    """The ``bash`` blocks of the level-2 section ``section`` (up to the next level-2 heading)."""
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else len(text)]
    return re.findall(r"^```bash\n(.*?)^```$", body, flags=re.S | re.M)


def repo_copy(tmp_path: Path) -> Path:
    """A folder that looks like the repository root: its entries linked, no run outputs."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in OUTPUTS:
            (repo / entry.name).symlink_to(entry)
    return repo


def test_walkthrough_has_the_steps():
    blocks = section_blocks(DOC.read_text(), SECTION)
    joined = "\n".join(blocks)
    assert blocks
    for step in ("pml data check imagefolder", "configs/datasets/imagefolder.yaml", "configs/best/", "metrics.json"):
        assert step in joined, step


def test_walkthrough_commands_run_as_written(tmp_path):
    """Ten classes of PNG images in ~/my-images (HOME is a temporary folder), every block run by bash from a
    repository-like folder with the kit's virtualenv: the check passes, the run completes with test metrics."""
    home = tmp_path / "home"
    make_image_folder(home / "my-images", per_class=6)
    repo = repo_copy(tmp_path)
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline",
           "PML_DATA_ROOT": str(tmp_path / "data"), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    outputs = []
    for block in section_blocks(DOC.read_text(), SECTION):
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"{block}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
        outputs.append(done.stdout)
    out = "\n".join(outputs)
    assert "[ok] imagefolder" in out and "train: images 30, classes 5" in out
    metrics = json.loads((repo / "runs" / "my-images" / "metrics.json").read_text())
    assert {"infer-imagefolder", "infer-imagefolder-lossy", "infer-imagefolder-pairs"} <= set(metrics)
    assert 0 <= metrics["infer-imagefolder"]["recall@1"] <= 1
