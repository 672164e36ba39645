"""The embedded default dataset `glyphs` (docs/design.md, "The embedded default").

An open-set image dataset synthesised from the TrueType fonts that ship inside matplotlib
(DejaVu Sans / Sans Mono / Serif, STIX General, Computer Modern). A class is one character; a sample
is that character drawn in a random font with a random affine distortion (rotation, anisotropic
scale, shear, translation), a random stroke width (grey-level dilation / erosion), random fore- and
background colours and Gaussian noise, rendered at twice the size and box-downsampled (anti-aliased).

Characters are chosen automatically from Latin, Greek, Cyrillic, Armenian, Hebrew, digits, letterlike,
arrows, math and geometric symbols: a character qualifies when at least four fonts of two families
draw it, and it is dropped when its shape (or its mirror image, so that horizontal-flip augmentation
never turns one class into another) is too close to a character already kept (``o``/``O``/``о``,
``b``/``d``, ``(``/``)``). The class order is a fixed pseudo-random permutation of the kept
characters, so that the train half and the test half mix scripts alike.

Generation is deterministic: the same `GlyphsParams` and the same font files give byte-identical
arrays. The arrays are cached under ``<data_root>/glyphs/glyphs-<key>.npz`` (written atomically) and
reused; the key hashes the parameters, the generator version and the font files' names and sizes.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ..errors import ConfigError, DataError
from ..utils import atomic_path

GENERATOR_VERSION = 1

# (file, family, which characters the font may draw: "unicode" = its cmap, "alnum" = ASCII letters and
# digits only (the Computer Modern fonts use the TeX encoding elsewhere), "alpha" = ASCII letters only).
FONTS = (
    ("DejaVuSans.ttf", "dejavu-sans", "unicode"),
    ("DejaVuSans-Bold.ttf", "dejavu-sans", "unicode"),
    ("DejaVuSans-Oblique.ttf", "dejavu-sans", "unicode"),
    ("DejaVuSans-BoldOblique.ttf", "dejavu-sans", "unicode"),
    ("DejaVuSansMono.ttf", "dejavu-mono", "unicode"),
    ("DejaVuSansMono-Bold.ttf", "dejavu-mono", "unicode"),
    ("DejaVuSansMono-Oblique.ttf", "dejavu-mono", "unicode"),
    ("DejaVuSerif.ttf", "dejavu-serif", "unicode"),
    ("DejaVuSerif-Bold.ttf", "dejavu-serif", "unicode"),
    ("DejaVuSerif-Italic.ttf", "dejavu-serif", "unicode"),
    ("DejaVuSerif-BoldItalic.ttf", "dejavu-serif", "unicode"),
    ("STIXGeneral.ttf", "stix", "unicode"),
    ("STIXGeneralBol.ttf", "stix", "unicode"),
    ("STIXGeneralItalic.ttf", "stix", "unicode"),
    ("STIXGeneralBolIta.ttf", "stix", "unicode"),
    ("cmr10.ttf", "computer-modern", "alnum"),
    ("cmb10.ttf", "computer-modern", "alnum"),
    ("cmss10.ttf", "computer-modern", "alnum"),
    ("cmti10.ttf", "computer-modern", "alnum"),
    ("cmtt10.ttf", "computer-modern", "alnum"),
    ("cmmi10.ttf", "computer-modern", "alpha"),
)

# Candidate code points, in order of preference (earlier ones win a shape tie).
CANDIDATE_RANGES = (
    (0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A),  # digits, Latin
    (0x391, 0x3A9), (0x3B1, 0x3C9),  # Greek
    (0x410, 0x44F),  # Cyrillic
    (0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E),  # ASCII punctuation
    (0x2100, 0x214F),  # letterlike
    (0x2190, 0x21FF),  # arrows
    (0x2200, 0x22FF),  # mathematical operators
    (0x25A0, 0x25FF),  # geometric shapes
    (0x2600, 0x26FF),  # misc symbols
    (0x2700, 0x27BF),  # dingbats
    (0x2300, 0x23FF),  # misc technical
    (0x27C0, 0x27EF), (0x2980, 0x29FF), (0x2A00, 0x2AFF),  # math symbols
    (0x531, 0x556), (0x561, 0x586),  # Armenian
    (0x5D0, 0x5EA),  # Hebrew
    (0x3D0, 0x3FF), (0x400, 0x40F), (0x450, 0x4FF),  # Greek symbols, Cyrillic extended
    (0xA1, 0xFF), (0x100, 0x17F), (0x180, 0x24F),  # Latin-1, Latin extended (accents: fine-grained)
)
MIN_FONTS = 4
MIN_FAMILIES = 2
SIGNATURE_SIZE = 20
MIRROR_THRESHOLD = 0.95  # similarity of a mirror image in one reference font
DUPLICATE_THRESHOLD = 0.92  # mean cosine similarity of centred shape signatures over the reference fonts
RENDER_SIZE = 96  # font size (pixels) of the cached glyph bitmaps
CLASS_ORDER_SEED = 20220  # fixed: the class list does not depend on GlyphsParams.seed


def font_dir() -> Path:
    """matplotlib's bundled TrueType folder (mpl-data/fonts/ttf)."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    if not path.is_dir():
        raise DataError(f"matplotlib's font folder {path} is missing; reinstall matplotlib (./run_all.sh setup)")
    return path


def _font_paths() -> list[tuple[Path, str, str]]:
    base = font_dir()
    found = [(base / name, family, scope) for name, family, scope in FONTS if (base / name).is_file()]
    if len(found) < 8:
        raise DataError(f"only {len(found)} of matplotlib's fonts found in {base}; reinstall matplotlib")
    return found


def fonts_fingerprint() -> str:
    """Names and sizes of the fonts used: part of the cache key."""
    return ";".join(f"{path.name}:{path.stat().st_size}" for path, _, _ in _font_paths())


@lru_cache(maxsize=None)
def _pil_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _coverage(path: Path, scope: str) -> set[int]:
    if scope == "alnum":
        return set(range(0x30, 0x3A)) | set(range(0x41, 0x5B)) | set(range(0x61, 0x7B))
    if scope == "alpha":
        return set(range(0x41, 0x5B)) | set(range(0x61, 0x7B))
    from fontTools.ttLib import TTFont

    cmap = TTFont(str(path), lazy=True).getBestCmap() or {}
    return {code for code, glyph in cmap.items() if glyph not in (".notdef", "space", "nonmarkingreturn")}


def render_glyph(char: str, font_path: str | Path, size: int = RENDER_SIZE) -> np.ndarray:
    """The character's ink as a tight (h, w) uint8 bitmap (255 = ink); (0, 0) when it draws nothing."""
    font = _pil_font(str(font_path), size)
    left, top, right, bottom = font.getbbox(char)
    if right <= left or bottom <= top:
        return np.zeros((0, 0), np.uint8)
    pad = 4
    image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(image).text((pad - left, pad - top), char, fill=255, font=font)
    array = np.asarray(image)
    rows = np.flatnonzero(array.max(axis=1) > 32)
    cols = np.flatnonzero(array.max(axis=0) > 32)
    if rows.size == 0:
        return np.zeros((0, 0), np.uint8)
    return np.ascontiguousarray(array[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


def _signature(bitmap: np.ndarray) -> np.ndarray | None:
    """Aspect-preserving, centred, blurred SIGNATURE_SIZE^2 shape vector (unit norm), or None if too small."""
    h, w = bitmap.shape
    if max(h, w) < RENDER_SIZE * 0.25:  # dots, commas, accents alone: too small to be a class
        return None
    scale = (SIGNATURE_SIZE - 2) / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = Image.fromarray(bitmap).resize((nw, nh), Image.Resampling.BOX)
    canvas = Image.new("L", (SIGNATURE_SIZE, SIGNATURE_SIZE), 0)
    canvas.paste(small, ((SIGNATURE_SIZE - nw) // 2, (SIGNATURE_SIZE - nh) // 2))
    canvas = canvas.filter(ImageFilter.GaussianBlur(1.0))
    vector = np.asarray(canvas, np.float64)
    vector = vector - vector.mean()
    norm = np.linalg.norm(vector)
    if norm == 0:
        return None
    return vector / norm


@lru_cache(maxsize=4)
def character_pool(limit: int | None = None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The usable characters with the font files that draw each, in preference order (deduplicated).

    ``limit``: stop after that many (the head of the full pool; faster).
    """
    fonts = _font_paths()
    coverage = [_coverage(path, scope) for path, _, scope in fonts]
    reference = [index for index, (path, _, _) in enumerate(fonts)
                 if path.name in ("DejaVuSans.ttf", "DejaVuSerif-Italic.ttf", "STIXGeneral.ttf")]
    kept: list[tuple[str, tuple[str, ...]]] = []
    kept_signatures: dict[int, list[np.ndarray]] = {index: [] for index in reference}
    kept_rows: dict[int, list[int]] = {index: [] for index in reference}
    seen: set[int] = set()
    for first, last in CANDIDATE_RANGES:
        for code in range(first, last + 1):
            if limit is not None and len(kept) >= limit:
                return tuple(kept)
            if code in seen:
                continue
            seen.add(code)
            char = chr(code)
            category = unicodedata.category(char)
            if category[0] not in "LNSP" or category in ("Lm", "Sk"):
                continue
            users = [index for index in range(len(fonts)) if code in coverage[index]]
            if len(users) < MIN_FONTS or len({fonts[i][1] for i in users}) < MIN_FAMILIES:
                continue
            # Shape signatures in the reference fonts that draw it, plus their mirror images.
            signatures = {}
            for index in reference:
                if index in users:
                    signature = _signature(render_glyph(char, fonts[index][0]))
                    if signature is None:
                        break
                    signatures[index] = signature
            else:
                if not signatures:
                    continue
                # A duplicate: the mean similarity (over the reference fonts drawing both) to a kept
                # character is high, or its mirror image matches one in some reference font.
                total = np.zeros(len(kept))
                count = np.zeros(len(kept))
                mirror = np.full(len(kept), -1.0)
                for index, signature in signatures.items():
                    if not kept_signatures[index]:
                        continue
                    matrix = np.stack(kept_signatures[index]).reshape(len(kept_signatures[index]), -1)
                    rows = np.asarray(kept_rows[index])
                    total[rows] += matrix @ signature.ravel()
                    count[rows] += 1
                    mirror[rows] = np.maximum(mirror[rows], matrix @ signature[:, ::-1].ravel())
                mean = total / np.maximum(count, 1)
                duplicate = bool(len(kept)) and (float(mean.max()) > DUPLICATE_THRESHOLD
                                                 or float(mirror.max()) > MIRROR_THRESHOLD)
                if duplicate:
                    continue
                # Visible in every font that claims it (drop empty or tiny glyphs font by font).
                drawn = []
                for index in users:
                    bitmap = render_glyph(char, fonts[index][0])
                    if bitmap.size and max(bitmap.shape) >= RENDER_SIZE * 0.25:
                        drawn.append(index)
                if len(drawn) < MIN_FONTS or len({fonts[i][1] for i in drawn}) < MIN_FAMILIES:
                    continue
                for index, signature in signatures.items():
                    kept_signatures[index].append(signature)
                    kept_rows[index].append(len(kept))
                kept.append((char, tuple(str(fonts[i][0]) for i in drawn)))
    return tuple(kept)


def select_characters(num_classes: int) -> list[tuple[str, tuple[str, ...]]]:
    """``num_classes`` characters (with their fonts) in class order: a fixed permutation of the pool."""
    pool = character_pool(num_classes)
    if num_classes > len(pool):
        raise ConfigError(f"dataset_params.glyphs_params.num_classes={num_classes}: only {len(pool)} distinct "
                          f"characters are available from matplotlib's fonts; use at most {len(pool)}")
    if num_classes < 2:
        raise ConfigError("dataset_params.glyphs_params.num_classes must be at least 2")
    chosen = pool[:num_classes]  # the pool is in preference order: letters and digits first
    order = np.random.default_rng(CLASS_ORDER_SEED).permutation(len(chosen))
    return [chosen[i] for i in order]


def _sample(bitmap: np.ndarray, rng: np.random.Generator, image_size: int) -> np.ndarray:
    """One (S, S, 3) uint8 image of a glyph bitmap under a random distortion."""
    canvas = 2 * image_size
    h, w = bitmap.shape
    # Glyph -> canvas affine map: centre, scale to a random fraction of the canvas, distort, translate.
    fraction = rng.uniform(0.5, 0.82)
    scale = fraction * canvas / max(h, w)
    aspect = np.exp(rng.uniform(-0.15, 0.15))
    angle = np.deg2rad(rng.uniform(-15.0, 15.0))
    shear = rng.uniform(-0.25, 0.25)
    shift = rng.uniform(-0.09, 0.09, size=2) * canvas
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    linear = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([scale * aspect, scale / aspect])
    centre_in = np.array([w / 2.0, h / 2.0])
    centre_out = np.array([canvas / 2.0, canvas / 2.0]) + shift
    inverse = np.linalg.inv(linear)
    offset = centre_in - inverse @ centre_out  # input = inverse @ output + offset
    coefficients = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    image = Image.fromarray(bitmap).transform((canvas, canvas), Image.Transform.AFFINE, coefficients,
                                              resample=Image.Resampling.BILINEAR, fillcolor=0)
    stroke = rng.choice(4, p=[0.2, 0.35, 0.3, 0.15])  # thinner, as is, bolder, much bolder
    if stroke == 0:  # erode only where the strokes survive it
        eroded = image.filter(ImageFilter.MinFilter(3))
        if np.asarray(eroded, np.float32).sum() >= 0.55 * np.asarray(image, np.float32).sum():
            image = eroded
    elif stroke == 2:
        image = image.filter(ImageFilter.MaxFilter(3))
    elif stroke == 3:
        image = image.filter(ImageFilter.MaxFilter(5))
    image = image.resize((image_size, image_size), Image.Resampling.BOX)
    alpha = np.asarray(image, np.float32)[:, :, None] / 255.0
    # Colours: a grey level pair with enough contrast, each tinted per channel.
    background = rng.uniform(0, 255)
    contrast = rng.uniform(90, 200)
    darker_ok, lighter_ok = background - contrast >= 0, background + contrast <= 255
    darker = darker_ok if darker_ok != lighter_ok else rng.random() < 0.5
    foreground = float(np.clip(background - contrast if darker else background + contrast, 0, 255))
    tint = rng.uniform(-25, 25, size=(2, 3))
    back = np.clip(background + tint[0], 0, 255)
    fore = np.clip(foreground + tint[1], 0, 255)
    pixels = back * (1.0 - alpha) + fore * alpha
    sigma = rng.uniform(0.0, 12.0)
    pixels = pixels + rng.normal(0.0, sigma, size=pixels.shape)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def generate(num_classes: int = 320, samples_per_class: int = 24, image_size: int = 32,
             seed: int = 0) -> dict[str, np.ndarray]:
    """Synthesise the whole set: ``images`` (N, S, S, 3) uint8, ``labels`` (N,) int64, ``chars`` (C,) str.

    Samples are grouped by class (class 0's samples first). Deterministic in the arguments.
    """
    if samples_per_class < 1 or image_size < 8:
        raise ConfigError("glyphs_params: samples_per_class must be >= 1 and image_size >= 8")
    characters = select_characters(num_classes)
    images = np.empty((num_classes * samples_per_class, image_size, image_size, 3), np.uint8)
    labels = np.repeat(np.arange(num_classes, dtype=np.int64), samples_per_class)
    bitmaps: dict[tuple[str, str], np.ndarray] = {}
    for label, (char, font_files) in enumerate(characters):
        rng = np.random.default_rng([seed, label, GENERATOR_VERSION])
        for index in range(samples_per_class):
            font_file = font_files[rng.integers(len(font_files))]
            key = (char, font_file)
            if key not in bitmaps:
                bitmaps[key] = render_glyph(char, font_file)
            images[label * samples_per_class + index] = _sample(bitmaps[key], rng, image_size)
    return {"images": images, "labels": labels, "chars": np.array([c for c, _ in characters])}


def cache_key(num_classes: int, samples_per_class: int, image_size: int, seed: int) -> str:
    text = json.dumps({"num_classes": num_classes, "samples_per_class": samples_per_class,
                       "image_size": image_size, "seed": seed, "version": GENERATOR_VERSION,
                       "fonts": fonts_fingerprint()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_glyphs(params, data_root: str | Path | None) -> dict[str, np.ndarray]:
    """The cached arrays for `GlyphsParams` ``params``, generated (and cached) on first use.

    ``data_root`` None: generate in memory without caching.
    """
    args = dict(num_classes=params.num_classes, samples_per_class=params.samples_per_class,
                image_size=params.image_size, seed=params.seed)
    if data_root is None:
        return generate(**args)
    path = Path(data_root) / "glyphs" / f"glyphs-{cache_key(**args)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in ("images", "labels", "chars")}
            if arrays["images"].shape[0] == params.num_classes * params.samples_per_class:
                return arrays
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # a damaged cache file: regenerate it below
    arrays = generate(**args)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
    except OSError as error:
        raise DataError(f"cannot write the glyphs cache {path}: {error}; set PML_DATA_ROOT to a writable "
                        f"folder or pass another data root") from None
    return arrays


def default_data_root() -> Path:
    """``$PML_DATA_ROOT`` or ``~/.cache/pml-kit/data``."""
    value = os.environ.get("PML_DATA_ROOT")
    return Path(value).expanduser() if value else Path("~/.cache/pml-kit/data").expanduser()
