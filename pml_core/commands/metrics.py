"""``python -m pml_core metrics``: retrieval metrics of saved embeddings (no model needed).

    python -m pml_core metrics --embeddings E.npy --labels L.npy [--confidences C.npy]
        [--distribution dirac|gmm|vmf --scorer NAME] [--query-mask Q.npy] [--device cuda]
        [--recall-k 1 2 4 8] [--filter-out-bins N] --json

With ``--distribution`` the embeddings array holds flat distribution parameters ``(N, P)``; the
distribution gives the vectors (means), the search modes and the confidences (unless
``--confidences`` is given). Distribution scorers (``mls``, ...) follow the reference protocol:
candidates by L2 on the modes, re-ranked by the scorer; ``--search exact`` runs an exact full MLS
search instead (isotropic ``gmm`` only).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError

VECTOR_SCORERS = ("cosine", "dot", "l2")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("metrics", help="retrieval metrics (recall@k, MAP@R, ERC, filter-out) of saved embeddings",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--embeddings", type=Path, required=True, metavar="E.npy",
                   help="(N, D) embeddings, or (N, P) flat distribution parameters with --distribution")
    p.add_argument("--labels", type=Path, required=True, metavar="L.npy", help="(N,) integer labels")
    p.add_argument("--confidences", type=Path, metavar="C.npy", help="(N,) confidences (higher = more confident)")
    p.add_argument("--distribution", choices=("dirac", "gmm", "vmf"),
                   help="interpret the embeddings as parameters of this distribution")
    p.add_argument("--distribution-param", action="append", default=[], metavar="KEY=VALUE",
                   help="distribution parameter (value parsed as JSON, e.g. covariance=\"diagonal\"); repeatable")
    p.add_argument("--scorer", default="cosine",
                   help="cosine (default) | dot | l2 | a distribution scorer (mls, ...) with --distribution")
    p.add_argument("--search", choices=("reference", "exact"), default="reference",
                   help="distribution scorers: reference (L2 candidates on modes + re-ranking) or exact (gmm mls)")
    p.add_argument("--query-mask", type=Path, metavar="Q.npy",
                   help="(N,) bool: queries search only the gallery (the other items, or --gallery-mask)")
    p.add_argument("--gallery-mask", type=Path, metavar="G.npy", help="(N,) bool gallery items")
    p.add_argument("--recall-k", type=int, nargs="+", default=[1, 2, 4, 8], metavar="K", help="k of recall@k")
    p.add_argument("--filter-out-bins", type=int, default=0, metavar="N", help="filter-out curve bins (needs confidences)")
    p.add_argument("--device", default=None, help="torch device (default: cpu)")
    p.add_argument("--backend", choices=("torch", "faiss"), default="torch", help="kNN backend")
    p.add_argument("--memory-mb", type=float, default=256, help="memory budget of one search chunk (MiB)")
    p.add_argument("--json", action="store_true", help="print one JSON object (NaN as null)")
    p.set_defaults(func=run)
    return p


def _load(path: Path | None, name: str):
    if path is None:
        return None
    if not Path(path).is_file():
        raise DataError(f"{name} file {path} not found.")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read {name} file {path}: {exc}") from None
    if isinstance(array, np.lib.npyio.NpzFile):
        names = ", ".join(array.files)
        array.close()
        raise DataError(f"{name} file {path} is an .npz archive (arrays: {names}); pass one array saved with "
                        f"np.save as a .npy file (e.g. np.save('x.npy', np.load('{Path(path).name}')['<name>']))")
    return array


def _parse_params(items) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--distribution-param expects KEY=VALUE, got {item!r}.")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _distribution(name: str, params: dict, num_params: int):
    from ..distributions import create_distribution  # noqa: PLC0415 (lazy: only with --distribution)

    if "dim" in params:
        return create_distribution(name, params)
    for dim in (num_params, num_params - 1, num_params // 2):
        if dim < 1:
            continue
        dist = create_distribution(name, {**params, "dim": dim})
        if dist.num_parameters == num_params:
            return dist
    raise DataError(f"{num_params} parameters per row do not fit distribution {name!r} with {params}; "
                    "pass --distribution-param dim=D.")


def _scorer_fn(name: str, dist):
    """Broadcasting score function (Q,1,P),(Q,K,P)->(Q,K) for a distribution scorer."""
    try:
        from ..scorers import create_scorer  # noqa: PLC0415
    except ImportError:
        create_scorer = None
    if create_scorer is not None:
        return create_scorer(name, dist)
    if name == "mls":
        return dist.logmls
    raise ConfigError(f"scorer {name!r} needs pml_core.scorers; available without it: mls, {', '.join(VECTOR_SCORERS)}.")


def _check_arguments(args: argparse.Namespace) -> None:
    if any(k < 1 for k in args.recall_k):
        raise ConfigError(f"--recall-k values must be >= 1, got {args.recall_k}")
    if args.filter_out_bins < 0:
        raise ConfigError(f"--filter-out-bins must be >= 0 (0: no filter-out curve), got {args.filter_out_bins}")
    if not args.memory_mb > 0:
        raise ConfigError(f"--memory-mb must be > 0, got {args.memory_mb}")


def run(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    from ..metrics import isotropic_gaussian_mls, retrieval_metrics  # noqa: PLC0415
    from ..utils import resolve_device  # noqa: PLC0415

    _check_arguments(args)
    device = resolve_device(args.device) if args.device else torch.device("cpu")

    emb = _load(args.embeddings, "embeddings")
    labels = _load(args.labels, "labels")
    conf = _load(args.confidences, "confidences")
    qmask = _load(args.query_mask, "query mask")
    gmask = _load(args.gallery_mask, "gallery mask")
    if emb.ndim != 2:
        raise DataError(f"embeddings must be a 2-D array (N, D), got shape {emb.shape}.")
    if not np.issubdtype(emb.dtype, np.floating):
        raise DataError(f"embeddings must be floating point, got {emb.dtype}.")
    x = torch.as_tensor(emb, device=device)
    if not bool(torch.isfinite(x).all()):
        raise DataError("embeddings contain NaN or inf; fix or drop those rows.")
    kwargs = dict(recall_k=tuple(args.recall_k), num_filter_out_bins=args.filter_out_bins,
                  query_mask=None if qmask is None else np.asarray(qmask, dtype=bool),
                  gallery_mask=None if gmask is None else np.asarray(gmask, dtype=bool),
                  memory_budget=int(args.memory_mb * 2**20), backend=args.backend, device=device)
    confidences = None if conf is None else torch.as_tensor(np.asarray(conf, dtype=np.float64), device=device)
    if args.distribution is None:
        if args.scorer not in VECTOR_SCORERS:
            raise ConfigError(f"scorer {args.scorer!r} needs --distribution; plain embeddings support "
                              f"{', '.join(VECTOR_SCORERS)}.")
        result = retrieval_metrics(x, labels, confidences, scorer=args.scorer, **kwargs)
    else:
        dist = _distribution(args.distribution, _parse_params(args.distribution_param), x.shape[1])
        if confidences is None and getattr(dist, "has_confidences", False):
            confidences = dist.confidences(x).reshape(-1).double()
        if args.scorer in VECTOR_SCORERS:
            result = retrieval_metrics(dist.mean(x), labels, confidences, scorer=args.scorer, **kwargs)
        elif args.search == "exact":
            if args.scorer != "mls" or args.distribution != "gmm" or getattr(dist, "num_hidden", None) != 1:
                raise ConfigError("--search exact supports --scorer mls with an isotropic gmm "
                                  "(covariance 'spherical') only; use --search reference.")
            mean, log_var = dist.split(x)
            params = torch.cat([mean, log_var.exp()], dim=1)
            result = retrieval_metrics(params, labels, confidences, scorer=isotropic_gaussian_mls, **kwargs)
        else:
            result = retrieval_metrics(x, labels, confidences, rerank_fn=_scorer_fn(args.scorer, dist),
                                       modes=dist.mode(x), candidate_similarity="l2", **kwargs)
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()},
                         indent=1))
    else:
        width = max(map(len, result), default=0)
        for key, value in result.items():
            print(f"{key:<{width}}  {value:.6f}")
    return 0
