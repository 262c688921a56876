"""All-pairs scoring of projects against needs from the stored passage vectors, in blocks.

A plan weighs a pair by its match strength (:mod:`matcher.strength.model`), the calibrated value
the page shows, computed from each need's dense scores over every project in the channel its
languages call for (:class:`PairStrengths`); a raw cosine means different things for different
languages. Nothing is encoded: the vectors are read back from the FAISS indexes. The score matrix is never held whole: needs are scored a block at a time against every
project, and only each need's and each project's best candidates are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from matcher.index.vector import VectorIndex
from matcher.outcomes.evaluation import OutcomeEvaluation, evaluate_outcomes
from matcher.outcomes.pairs import Pair
from matcher.pipeline.reader import Reader
from matcher.records import Kind
from matcher.retrieval.channels import QueryVectors, dense_scores
from matcher.retrieval.retrieve import lexical_scores
from matcher.strength.model import row_strengths
from matcher.support.arrays import ranges

BLOCK_CELLS = 2_000_000  # passage-by-passage similarities at once (8 MB; the peak is about six times that)


@dataclass(frozen=True)
class SideVectors:
    """One side's records as rows of passage vectors: record ``i`` owns rows ``starts[i]:starts[i+1]``."""

    keys: np.ndarray  # record keys, ascending
    starts: np.ndarray  # first passage row of each record
    vectors: np.ndarray  # (passages, dimension), unit length

    @property
    def count(self) -> int:
        return len(self.keys)

    def block(self, first: int, last: int) -> SideVectors:
        """Records ``first`` to ``last - 1`` as their own :class:`SideVectors`."""
        begin = int(self.starts[first])
        end = int(self.starts[last]) if last < self.count else len(self.vectors)
        return SideVectors(self.keys[first:last], self.starts[first:last] - begin, self.vectors[begin:end])


def side_vectors(index: VectorIndex, keys: Iterable[int] | None = None) -> SideVectors:
    """The stored passage vectors of ``keys`` (default: every record), grouped by record."""
    layout = index.layout()
    whole = SideVectors(layout.keys, layout.starts, layout.vectors)
    return whole if keys is None else side_vectors_subset(whole, keys)


def record_similarities(rows: SideVectors, columns: SideVectors) -> np.ndarray:
    """``(rows.count, columns.count)`` best-passage-pair similarities (exact, one matrix product)."""
    if rows.count == 0 or columns.count == 0:
        return np.zeros((rows.count, columns.count), dtype=np.float32)
    passages = rows.vectors @ columns.vectors.T
    by_column = np.maximum.reduceat(passages, columns.starts, axis=1)
    return np.maximum.reduceat(by_column, rows.starts, axis=0)


def row_blocks(rows: SideVectors, columns: SideVectors, cells: int = BLOCK_CELLS) -> Iterable[tuple[int, int]]:
    """``(first, last)`` record ranges of ``rows`` whose passages times all of ``columns`` fit in ``cells``."""
    budget = max(cells // max(len(columns.vectors), 1), 1)
    first = 0
    while first < rows.count:
        last = max(int(np.searchsorted(rows.starts, rows.starts[first] + budget)), first + 1)
        yield first, last
        first = last


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs as parallel arrays of need keys, project keys and scores (best first per need)."""

    need_keys: np.ndarray
    project_keys: np.ndarray
    scores: np.ndarray
    scored_pairs: int  # how many pairs were scored in all
    below_floor: int  # of those, how many scored under the floor
    excluded: int  # of those at or above the floor, how many were excluded (conflicts, history)
    best_score: float | None  # the best score of any pair scored, excluded or not
    eligible: int = 0  # pairs at or above the floor and not excluded
    complete: bool = True  # every eligible pair is here (else only each record's best)

    @property
    def pruned(self) -> int:
        """Eligible pairs left out because they were among neither record's best."""
        return self.eligible - len(self.scores)

    def __len__(self) -> int:
        return len(self.scores)


class _ColumnBest:
    """The running ``depth`` best (score, row key) of every column across row blocks."""

    def __init__(self, columns: int, depth: int) -> None:
        self.scores = np.full((0, columns), -np.inf, dtype=np.float32)
        self.rows = np.zeros((0, columns), dtype=np.int64)
        self.depth = depth

    def merge(self, scores: np.ndarray, row_keys: np.ndarray) -> None:
        if len(scores) > self.depth:  # the block's own best first, so nothing block-sized is copied
            keep = np.argpartition(-scores, self.depth - 1, axis=0)[: self.depth]
            scores, block_rows = np.take_along_axis(scores, keep, axis=0), row_keys[keep]
        else:
            block_rows = np.broadcast_to(row_keys[:, None], scores.shape)
        scores = np.vstack([self.scores, scores])
        rows = np.vstack([self.rows, block_rows])
        if len(scores) > self.depth:
            keep = np.argpartition(-scores, self.depth - 1, axis=0)[: self.depth]
            scores = np.take_along_axis(scores, keep, axis=0)
            rows = np.take_along_axis(rows, keep, axis=0)
        self.scores, self.rows = scores, rows


def best_pairs(
    needs: SideVectors,
    projects: SideVectors,
    depth: int,
    floor: float,
    excluded: Mapping[int, set[int]] | None = None,
    cells: int = BLOCK_CELLS,
    progress: Callable[[int, int], None] | None = None,
    keep_all: int = 0,
    score_block: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Candidates:
    """Each need's ``depth`` best projects and each project's ``depth`` best needs, at or above ``floor``.

    When no more than ``keep_all`` pairs reach the floor, every one of them is returned instead
    (``complete``), so a solver over them is optimal over all pairs, not only the best ones.
    ``excluded`` maps a need key to project keys it must not be paired with; those pairs are left
    out before the best are chosen, so a need with conflicts still gets ``depth`` candidates.
    Memory is one block of scores, ``depth`` rows per side, and at most ``keep_all`` pairs.
    ``score_block`` scores a block of need keys against the project keys (default: the cosine of
    the best pair of passages).
    """
    excluded = excluded or {}
    project_index = {int(key): column for column, key in enumerate(projects.keys)}
    column_best = _ColumnBest(projects.count, depth)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    every: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = []
    below = removed = eligible = 0
    best = -np.inf
    for first, last in row_blocks(needs, projects, cells):
        block = needs.block(first, last)
        scores = record_similarities(block, projects) if score_block is None else score_block(block.keys, projects.keys)
        if scores.size:
            best = max(best, float(scores.max()))
        below += int((scores < floor).sum())
        for row, need_key in enumerate(block.keys):
            banned = [project_index[key] for key in excluded.get(int(need_key), ()) if key in project_index]
            if banned:
                removed += int((scores[row, banned] >= floor).sum())
                scores[row, banned] = -np.inf
        scores[scores < floor] = -np.inf
        rows, columns = np.nonzero(np.isfinite(scores))
        eligible += len(rows)
        if every is not None and eligible <= keep_all:
            every.append((block.keys[rows], projects.keys[columns], scores[rows, columns]))
        else:
            every = None
        take = min(depth, projects.count)
        top = np.argpartition(-scores, take - 1, axis=1)[:, :take] if take else np.zeros((len(scores), 0), int)
        top_scores = np.take_along_axis(scores, top, axis=1)
        keep = np.isfinite(top_scores)
        rows_of = np.broadcast_to(block.keys[:, None], top.shape)[keep]
        found.append((rows_of, projects.keys[top[keep]], top_scores[keep]))
        column_best.merge(scores, block.keys)
        if progress is not None:
            progress(last, needs.count)
    if every is not None:
        found = every
    else:
        keep = np.isfinite(column_best.scores)
        found.append(
            (
                column_best.rows[keep],
                np.broadcast_to(projects.keys[None, :], column_best.scores.shape)[keep],
                column_best.scores[keep],
            )
        )
    need_parts = [part[0] for part in found]
    project_parts = [part[1] for part in found]
    score_parts = [part[2] for part in found]
    need_keys = np.concatenate(need_parts) if need_parts else np.zeros(0, np.int64)
    project_keys = np.concatenate(project_parts) if project_parts else np.zeros(0, np.int64)
    scores = np.concatenate(score_parts) if score_parts else np.zeros(0, np.float32)
    # A pair in both lists appears twice: keep one, ordered by need then best score first.
    order = np.lexsort((-scores, project_keys, need_keys))
    need_keys, project_keys, scores = need_keys[order], project_keys[order], scores[order]
    unique = np.ones(len(order), dtype=bool)
    unique[1:] = (need_keys[1:] != need_keys[:-1]) | (project_keys[1:] != project_keys[:-1])
    need_keys, project_keys, scores = need_keys[unique], project_keys[unique], scores[unique]
    order = np.lexsort((-scores, need_keys))
    return Candidates(
        need_keys[order].astype(np.int64),
        project_keys[order].astype(np.int64),
        scores[order].astype(np.float32),
        scored_pairs=needs.count * projects.count,
        below_floor=below,
        excluded=removed,
        best_score=None if not np.isfinite(best) else best,
        eligible=eligible,
        complete=every is not None,
    )


def side_vectors_subset(side: SideVectors, keys: Iterable[int]) -> SideVectors:
    """The records of ``side`` whose key is in ``keys``, in key order."""
    positions = np.flatnonzero(np.isin(side.keys, np.fromiter((int(key) for key in keys), dtype=np.int64)))
    ends = np.append(side.starts[1:], len(side.vectors))
    counts = ends[positions] - side.starts[positions]
    rows = ranges(side.starts[positions], counts)
    return SideVectors(side.keys[positions], np.cumsum(counts) - counts, side.vectors[rows])


class PairStrengths:
    """Need-by-project match strengths, as a match of each need would give them (both dense channels).

    ``weak_as_zero`` scores a pair under its kind's "possible" band 0, so a plan's floor keeps it out.
    """

    def __init__(self, reader: Reader, weak_as_zero: bool = False) -> None:
        self._weak_as_zero = weak_as_zero
        self._projects = reader.index(Kind.PROJECTS)
        self._needs = reader.index(Kind.NEEDS)
        self._model = reader.strength
        self._bridge_weight = reader.settings.ranking_policy.bridge_weight

    def _query(self, need_key: int) -> QueryVectors:
        needs = self._needs
        digest = needs.vector.entries[need_key][0]
        english = needs.vector.record_vectors(need_key, digest)
        multilingual = needs.multilingual.record_vectors(need_key, digest) if needs.multilingual else None
        assert english is not None  # the key came from this index
        return QueryVectors(english, multilingual, needs.languages.get(need_key, "en"))

    def __call__(self, need_keys: np.ndarray, project_keys: np.ndarray) -> np.ndarray:
        scores = np.empty((len(need_keys), len(project_keys)), dtype=np.float32)
        for row, need_key in enumerate(need_keys.tolist()):
            query = self._query(int(need_key))
            dense = dense_scores(self._projects, query)
            tokens = self._needs.lexical.tokens.get(int(need_key), [])
            keys, lexical = lexical_scores(self._projects, tokens, query.language, self._bridge_weight)
            aligned = lexical if np.array_equal(keys, dense.keys) else None
            strengths = row_strengths(
                self._model, dense, aligned, query.language, self._projects.languages, self._weak_as_zero
            )
            scores[row] = strengths[np.searchsorted(dense.keys, project_keys)]
        return scores


def strength_ranks(
    strengths: Callable[[np.ndarray, np.ndarray], np.ndarray],
    need_keys: np.ndarray,
    project_keys: np.ndarray,
    pairs: list[tuple[int, int]],
) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
    """Each pair's place by strength (1 = best): its project among ``project_keys`` for the need, and
    its need among ``need_keys`` for the project (both in scope)."""
    if not pairs:
        return {}, {}
    chosen_needs = np.asarray(sorted({need for need, _ in pairs}), dtype=np.int64)
    chosen_projects = np.asarray(sorted({project for _, project in pairs}), dtype=np.int64)
    by_need = strengths(chosen_needs, project_keys)  # the chosen needs against every project in scope
    by_project = strengths(need_keys, chosen_projects)  # every need in scope against the chosen projects
    need_row = {int(key): row for row, key in enumerate(chosen_needs)}
    project_column = {int(key): column for column, key in enumerate(project_keys)}
    need_position = {int(key): row for row, key in enumerate(need_keys)}
    chosen_column = {int(key): column for column, key in enumerate(chosen_projects)}
    need_ranks, project_ranks = {}, {}
    for need, project in pairs:
        row = by_need[need_row[need]]
        need_ranks[(need, project)] = int((row > row[project_column[project]]).sum()) + 1
        column = by_project[:, chosen_column[project]]
        project_ranks[(project, need)] = int((column > column[need_position[need]]).sum()) + 1
    return need_ranks, project_ranks


def pair_strengths(reader: Reader, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """``(project_id, need_id) -> match strength``; unknown records are left out."""
    pairs = list(pairs)
    projects = reader.catalogue.keys_of(Kind.PROJECTS, {project for project, _ in pairs})
    needs = reader.catalogue.keys_of(Kind.NEEDS, {need for _, need in pairs})
    known = [(project, need) for project, need in pairs if project in projects and need in needs]
    if not known:
        return {}
    score = PairStrengths(reader)
    project_keys = np.asarray(sorted(set(projects.values())), dtype=np.int64)
    need_keys = np.asarray(sorted(set(needs.values())), dtype=np.int64)
    matrix = score(need_keys, project_keys)
    need_row = {int(key): row for row, key in enumerate(need_keys)}
    project_column = {int(key): column for column, key in enumerate(project_keys)}
    return {
        (project, need): float(matrix[need_row[needs[need]], project_column[projects[project]]])
        for project, need in known
    }


def evaluate_recorded_outcomes(
    reader: Reader, k: int = 5, keep: float = 0.9, min_labelled: int = 20
) -> OutcomeEvaluation:
    """:func:`~matcher.outcomes.evaluation.evaluate_outcomes` over the outcome store, current similarities from its indexes."""

    def similarity(pairs: list[Pair]) -> dict[tuple[str, str], float]:
        return pair_strengths(reader, pairs)

    return evaluate_outcomes(reader.outcomes.list(), similarity, k=k, keep=keep, min_labelled=min_labelled)
