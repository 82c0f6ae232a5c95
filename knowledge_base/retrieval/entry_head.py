"""A light classifier head over the entries: the retriever's second opinion.

Nearest-phrasing search asks "which single phrasing is closest?"; a multinomial logistic
regression over all of an entry's phrasing vectors asks "which entry does this vector belong to?",
and so uses every phrasing of an entry at once, weighting the directions that separate entries.
On BANKING77 (10 phrasings per intent, all-MiniLM-L6-v2) top-1 rose from 0.810 (max cosine) to
0.855 blended, and the blended score separates out-of-scope questions better than the cosine
alone (docs/measurements.md).

The head is fitted when a snapshot is written (torch's L-BFGS on scikit-learn's multinomial
objective: scikit-learn itself took 67 s for one fit of a 1,000-entry KB, torch in float32 26 s,
and a fit warm-started from the previous snapshot's head a few seconds) and stored beside it as
plain arrays (`head.npz`, no pickle); at query time it is one matrix product and a softmax in
numpy.

    >>> head = fit_entry_head(vectors, entry_ids)
    >>> probabilities = head.probabilities(query_vectors)   # (queries, len(head.classes))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

HEAD_FILE = "head.npz"
# Questions staff labelled out of scope are the head's one extra class, so that the softmax gives
# questions like them its mass instead of the nearest entry's (BANKING77, 10 intents held out and
# labelled from the train split: out-of-scope test questions abstained 0.86 -> 0.90 while in-scope
# ones resolved 0.75 -> 0.90 at the best band; docs/measurements.md). Never an entry: no entry id
# is empty (`Entry.validate`). Fewer labels than `MIN_OUT_OF_SCOPE_ROWS` teach it nothing reliable.
OUT_OF_SCOPE = ""
MIN_OUT_OF_SCOPE_ROWS = 20
# The out-of-scope labels are scored for calibration by heads that did not learn from them.
OUT_OF_SCOPE_FOLDS = 2
# Inverse regularisation on standardised features: one value suits MiniLM and e5 alike
# (measured on BANKING77: C in 0.05-0.3 all within 0.3 points; raw unit vectors need C ≈ 10 for
# MiniLM and fail on e5, whose cosines sit close together).
HEAD_C = 0.1
# Decision score = (1 - HEAD_WEIGHT) × best cosine + HEAD_WEIGHT × head probability.
HEAD_WEIGHT = 0.5
# Above these sizes the fit takes minutes and a per-entry softmax means little: no head.
MAX_HEAD_ENTRIES = 2000
# Below this many entries a softmax over a handful of classes is confident about anything, an
# off-topic question included (a 6-entry KB answered "what's the weather?"): no head.
MIN_HEAD_ENTRIES = 20
MAX_HEAD_PHRASINGS = 50_000
CALIBRATION_FOLDS = 5
# L-BFGS stops when no gradient component of the mean loss exceeds this: on BANKING77 1e-3
# took 12 iterations where 1e-4 took 54, for the same top-1 (0.856 vs 0.854 blended).
FIT_TOLERANCE = 1e-3
FIT_MAX_ITERATIONS = 500


@dataclass(frozen=True)
class EntryHead:
    """Standardise, then a linear layer and a softmax over `classes` (entry ids)."""

    classes: tuple[str, ...]
    mean: np.ndarray  # (dimension,)
    scale: np.ndarray  # (dimension,)
    coef: np.ndarray  # (classes, dimension)
    intercept: np.ndarray  # (classes,)

    @property
    def has_out_of_scope(self) -> bool:
        """Whether the head learnt the out-of-scope class from staff labels."""
        return OUT_OF_SCOPE in self.column

    @cached_property
    def column(self) -> dict[str, int]:
        """Entry id -> its column in `probabilities` (built once per loaded head, not per query)."""
        return {entry_id: j for j, entry_id in enumerate(self.classes)}

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Each row's probability of belonging to each entry: shape (rows, len(classes))."""
        x = (np.atleast_2d(np.asarray(vectors, dtype=np.float32)) - self.mean) / self.scale
        logits = x @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)  # stable softmax
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def save(self, folder: Path) -> None:
        """Write the head into `folder` as `head.npz` (arrays and the class ids as JSON)."""
        np.savez(Path(folder) / HEAD_FILE, mean=self.mean, scale=self.scale, coef=self.coef,
                 intercept=self.intercept, classes=np.array(json.dumps(list(self.classes))))

    @classmethod
    def load(cls, folder: Path) -> "EntryHead | None":
        """The head saved in `folder`, or None when the snapshot has none."""
        path = Path(folder) / HEAD_FILE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return cls(tuple(json.loads(str(data["classes"]))), data["mean"], data["scale"],
                       data["coef"], data["intercept"])


def head_wanted(setting: str, entry_count: int, phrasing_count: int) -> bool:
    """Whether to fit a head: `setting` is "auto" (KBs of 20 to 2,000 entries that have alternates),
    "on" or "off". Raises ValueError for another value."""
    if setting not in ("auto", "on", "off"):
        raise ValueError(f"entry_head must be 'auto', 'on' or 'off', not {setting!r}")
    if setting == "off" or entry_count < 2:
        return False
    if setting == "on":
        return True
    # With one phrasing per entry the head learns nothing the cosine does not already know.
    return (MIN_HEAD_ENTRIES <= entry_count <= MAX_HEAD_ENTRIES and phrasing_count <= MAX_HEAD_PHRASINGS
            and phrasing_count >= 1.5 * entry_count)


def fit_entry_head(vectors: np.ndarray, entry_ids: Sequence[str], c: float = HEAD_C,
                   init: EntryHead | None = None, out_of_scope: np.ndarray | None = None,
                   min_out_of_scope: int = MIN_OUT_OF_SCOPE_ROWS) -> EntryHead | None:
    """Fit the head on the phrasing vectors; None when there are fewer than two entries.

    `init`: a head fitted before on much the same KB (the previous snapshot's, or the full fit
    for a cross-validation fold); the fit starts from it, so an update that changed a few entries
    converges in a few iterations instead of starting from zero. `out_of_scope`: vectors of
    questions staff labelled out of scope; from `min_out_of_scope` of them on they are the class
    `OUT_OF_SCOPE`.
    """
    x = np.asarray(vectors, dtype=np.float32)
    y = np.asarray(entry_ids)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} vectors but {len(y)} entry ids")
    if len(set(y.tolist())) < 2:
        return None
    if out_of_scope is not None and len(out_of_scope) >= max(min_out_of_scope, 1):
        x = np.vstack([x, np.asarray(out_of_scope, dtype=np.float32)])
        y = np.r_[y.astype(object), np.full(len(out_of_scope), OUT_OF_SCOPE, dtype=object)].astype(str)
    classes, targets = np.unique(y, return_inverse=True)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    classes = tuple(str(e) for e in classes)
    start = _transfer(init, classes, mean, scale) if init is not None else None
    coef, intercept = _fit_softmax((x - mean) / scale, targets, len(classes), c, start)
    return EntryHead(classes, mean.astype(np.float32), scale.astype(np.float32), coef, intercept)


def _transfer(head: EntryHead, classes: tuple[str, ...], mean: np.ndarray,
              scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`head`'s weights re-expressed for features standardised with `mean` and `scale`, one row
    per class of `classes` (zeros for entries it did not know): the same logits for every x."""
    coef = np.zeros((len(classes), len(mean)), dtype=np.float32)
    intercept = np.zeros(len(classes), dtype=np.float32)
    rows = [(j, head.column[entry_id]) for j, entry_id in enumerate(classes) if entry_id in head.column]
    if rows:
        new, old = (np.array(side) for side in zip(*rows))
        # ((x - m)/s)·w + b  ==  ((x - m')/s')·(w s'/s) + ((m' - m)/s)·w + b
        coef[new] = head.coef[old] * (scale / head.scale)
        intercept[new] = head.intercept[old] + head.coef[old] @ ((mean - head.mean) / head.scale)
    return coef, intercept


def _fit_softmax(features: np.ndarray, targets: np.ndarray, classes: int, c: float,
                 start: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression with scikit-learn's objective (mean cross-entropy plus
    ||W||² / (2 C n); the intercept is not penalised), minimised by L-BFGS in float32."""
    import torch  # fitting only; serving needs numpy

    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    y = torch.from_numpy(targets.astype(np.int64))
    weight = torch.zeros(classes, x.shape[1]) if start is None else torch.from_numpy(start[0]).clone()
    bias = torch.zeros(classes) if start is None else torch.from_numpy(start[1]).clone()
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    penalty = 0.5 / (c * len(x))
    # A short history: L-BFGS keeps two (classes x dimension) arrays per step remembered.
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=FIT_MAX_ITERATIONS, history_size=10,
                                  tolerance_grad=FIT_TOLERANCE, tolerance_change=1e-9,
                                  line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = torch.nn.functional.cross_entropy(x @ weight.T + bias, y) + penalty * (weight * weight).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return weight.detach().numpy().astype(np.float32), bias.detach().numpy().astype(np.float32)


def entry_max_cosine(query_vectors: np.ndarray, phrasing_vectors: np.ndarray,
                     phrasing_entry_ids: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """(queries, len(classes)): each query's best cosine to each entry's phrasings, the score the
    retriever gives an entry (-1 for an entry without phrasings here)."""
    sims = np.asarray(query_vectors, dtype=np.float32) @ np.asarray(phrasing_vectors, dtype=np.float32).T
    column = {entry_id: j for j, entry_id in enumerate(classes)}
    columns = np.fromiter((column[e] for e in phrasing_entry_ids), dtype=np.int64, count=len(phrasing_entry_ids))
    out = np.full((sims.shape[0], len(classes)), -1.0, dtype=np.float32)
    if OUT_OF_SCOPE in column:
        out[:, column[OUT_OF_SCOPE]] = -np.inf  # not an entry: never ranked, whatever its probability
    if not len(columns):
        return out
    # Phrasings grouped by entry, then one reduceat per group: no Python loop over phrasings.
    order = np.argsort(columns, kind="stable")
    grouped = columns[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    out[:, grouped[starts]] = np.maximum.reduceat(sims[:, order], starts, axis=1)
    return out


def blend(cosine: np.ndarray | float, probability: np.ndarray | float,
          weight: float = HEAD_WEIGHT) -> np.ndarray | float:
    """The decision score: what ranking and the answer/abstain threshold read when a head exists."""
    return (1.0 - weight) * cosine + weight * probability


def _folds(entry_ids: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number per row, dealt round-robin within each entry (shuffled), so that every entry
    with two or more phrasings keeps one in training whichever fold is held out."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(entry_ids), dtype=np.int64)
    for entry_id in np.unique(entry_ids):
        rows = np.flatnonzero(entry_ids == entry_id)
        rng.shuffle(rows)
        fold[rows] = (np.arange(len(rows)) + rng.integers(folds)) % folds
    return fold


def cross_validated_scores(vectors: np.ndarray, entry_ids: Sequence[str], *,
                           folds: int = CALIBRATION_FOLDS, weight: float = HEAD_WEIGHT,
                           seed: int = 0, c: float = HEAD_C, init: EntryHead | None = None,
                           out_of_scope: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(decision score, answered correctly?) for every phrasing of an entry that has siblings,
    each scored as a new question: the head is fitted without its fold and the cosine is taken
    over the phrasings outside its fold, exactly as a customer's paraphrase would be scored.

    These pairs calibrate the threshold (knowledge_base.retrieval.calibration) when the snapshot has a head.
    `init`: the head fitted on all of them, which each fold's fit starts from (10x faster at
    1,000 entries than starting from zero, to the same tolerance). `out_of_scope`: the labelled
    out-of-scope vectors the head learns from, which every fold's head learns from too.
    """
    scores, ranked, truth = cross_validated_top(vectors, entry_ids, k=1, folds=folds, weight=weight,
                                                seed=seed, c=c, init=init, out_of_scope=out_of_scope)
    return scores[:, 0].astype(np.float32), ranked[:, 0] == truth


def cross_validated_top(vectors: np.ndarray, entry_ids: Sequence[str], *, k: int = 3,
                        folds: int = CALIBRATION_FOLDS, weight: float = HEAD_WEIGHT,
                        seed: int = 0, c: float = HEAD_C, init: EntryHead | None = None,
                        out_of_scope: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `k` best entries of each held-out phrasing, scored as `cross_validated_scores` scores
    it: (scores (n, k) best first, their entry ids (n, k), each phrasing's own entry id (n,)).
    Fewer than `k` entries in a fold's head leave the last columns at -inf and ""."""
    x = np.asarray(vectors, dtype=np.float32)
    ids = np.asarray(entry_ids)
    counts = {e: n for e, n in zip(*np.unique(ids, return_counts=True))}
    fold = _folds(ids, folds, seed)
    scores: list[np.ndarray] = []
    ranked: list[np.ndarray] = []
    truth: list[np.ndarray] = []
    for held in range(folds):
        test = np.flatnonzero((fold == held) & np.array([counts[e] > 1 for e in ids], dtype=bool))
        train = np.flatnonzero(fold != held)
        if not len(test) or len(set(ids[train].tolist())) < 2:
            continue
        head = fit_entry_head(x[train], ids[train], c, init=init, out_of_scope=out_of_scope, min_out_of_scope=1)
        cos = entry_max_cosine(x[test], x[train], ids[train], head.classes)
        mixed = blend(cos, head.probabilities(x[test]), weight)
        best = np.argsort(-mixed, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(mixed, best, axis=1)
        names = np.asarray(head.classes, dtype=object)[best]
        if best.shape[1] < k:  # fewer entries than k: pad
            pad = k - best.shape[1]
            top = np.pad(top, ((0, 0), (0, pad)), constant_values=-np.inf)
            names = np.pad(names, ((0, 0), (0, pad)), constant_values="")
        scores.append(top)
        ranked.append(names)
        truth.append(ids[test].astype(object))
    if not scores:
        return np.zeros((0, k), dtype=np.float32), np.zeros((0, k), dtype=object), np.zeros(0, dtype=object)
    return np.concatenate(scores), np.concatenate(ranked), np.concatenate(truth)


def out_of_scope_folds(vectors: np.ndarray, entry_ids: Sequence[str], out_of_scope: np.ndarray,
                       init: EntryHead | None = None, folds: int = OUT_OF_SCOPE_FOLDS,
                       c: float = HEAD_C, seed: int = 0) -> list[tuple[np.ndarray, EntryHead]]:
    """For each fold of the `out_of_scope` rows: (those row numbers, a head fitted on every
    phrasing and the other folds' rows). Calibration scores each out-of-scope label with the head
    of its fold, as a new question, not one the head learnt (which it would score too low)."""
    order = np.random.default_rng(seed).permutation(len(out_of_scope))
    result = []
    for held in range(folds):
        rows = np.sort(order[held::folds])
        kept = np.setdiff1d(np.arange(len(out_of_scope)), rows)
        # The full head has the class (enough labels): so has each fold's, on fewer of them.
        head = fit_entry_head(vectors, entry_ids, c, init=init, out_of_scope=out_of_scope[kept], min_out_of_scope=1)
        if head is not None and len(rows):
            result.append((rows, head))
    return result


def rows_by_head(count: int, head: EntryHead | None,
                 held_out: Sequence[tuple[np.ndarray, EntryHead]] = ()) -> list[tuple[np.ndarray, EntryHead | None]]:
    """`count` query rows split by the head that scores them: the rows of each `held_out` pair by
    its head, every other row by `head`."""
    rest = np.ones(count, dtype=bool)
    groups: list[tuple[np.ndarray, EntryHead | None]] = []
    for rows, fold_head in held_out:
        rest[rows] = False
        groups.append((np.asarray(rows, dtype=np.int64), fold_head))
    return [(np.flatnonzero(rest), head), *groups]
