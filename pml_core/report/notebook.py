"""What every notebook of ``notebooks/`` does first: decide where it writes, and say what its numbers are.

A notebook run interactively (JupyterLab, a plain ``jupyter nbconvert --execute``) writes its tables and
figures to the git-ignored scratch folder ``scratch/<profile>/`` beside ``notebooks/``; only
``./run_all.sh <profile>`` passes ``output_dir = paper_figures/<profile>/`` (the committed smoke tables
and figures are never overwritten by exploring). An ``output_dir`` that names another profile's folder
is refused, so a tiny run cannot overwrite the smoke results either.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

PROFILES = ("tiny", "smoke", "paper")
SCRATCH = "scratch"

PROFILE_NOTES = {
    "tiny": ("Profile `tiny`: test-sized runs (a few steps on a fraction of the embedded glyphs dataset) that "
             "check the pipeline end to end; the numbers mean nothing, not even about glyphs."),
    "smoke": ("Profile `smoke`: every method trained on the embedded glyphs dataset on a CPU; the numbers "
              "compare methods on glyphs and are **not** the paper's."),
    "paper": "Profile `paper`: the paper's protocol on the real datasets.",
}
PAPER_HINT = ("`./run_all.sh paper --data-root DIR` runs the real grid (README, \"Reproducing the paper\").")


def output_folder(profile: str, output_dir: str | Path = "", notebooks_dir: str | Path = ".") -> Path:
    """Where a notebook of ``profile`` writes: ``output_dir`` when given, else ``<notebooks_dir>/../scratch/<profile>``.

    Raises ConfigError when ``output_dir`` ends in another profile's name (``../paper_figures/smoke`` with
    ``profile = "tiny"``).
    """
    if profile not in PROFILES:
        raise ConfigError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if not output_dir:
        return Path(notebooks_dir) / ".." / SCRATCH / profile
    folder = Path(output_dir)
    if folder.name in PROFILES and folder.name != profile:
        raise ConfigError(f"output_dir {str(output_dir)!r} is the {folder.name} profile's folder but profile is "
                          f"{profile!r}; leave output_dir empty (writes to {SCRATCH}/{profile}/) or name a "
                          f"folder of this profile")
    return folder


def profile_note(profile: str) -> str:
    """One markdown paragraph saying what the numbers of a notebook run in ``profile`` are."""
    if profile not in PROFILES:
        raise ConfigError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    return PROFILE_NOTES[profile] + ("" if profile == "paper" else " " + PAPER_HINT)


def show_profile(profile: str, output_dir: str | Path) -> None:
    """Display the profile note and where this run writes (the first output of every notebook)."""
    from IPython.display import Markdown, display

    display(Markdown(f"{profile_note(profile)} Tables and figures of this run go to `{Path(output_dir).as_posix()}/`."))
