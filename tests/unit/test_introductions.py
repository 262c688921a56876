"""Introduction planning logic: all-pairs scoring in blocks, the exact solver, conflicts, exports."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from openpyxl import load_workbook
from scipy.optimize import Bounds, LinearConstraint, milp

from matcher.errors import ValidationFailed
from matcher.index.vector import VectorIndex
from matcher.ingest.readers import read_table
from matcher.introductions.conflicts import find_exclusions, party_marks, rules_from_objects, rules_from_table
from matcher.introductions.export import plan_csv, plan_xlsx, write_plan
from matcher.introductions.planner import COLUMNS
from matcher.introductions.scoring import best_pairs, record_similarities, side_vectors, strength_ranks
from matcher.introductions.solver import Caps, PairTable, solve_flow, solve_greedy
from matcher.records import Kind, Record

# -- solver ----------------------------------------------------------------------------------


def _milp_optimum(pairs: PairTable, caps: Caps) -> float:
    """The best total by a general integer program (SciPy's HiGHS), to check the flow against."""
    groups: dict[tuple, list[int]] = {}
    limits: dict[tuple, int] = {}
    for i in range(len(pairs)):
        names = [(("need", pairs.needs[i]), caps.per_need), (("project", pairs.projects[i]), caps.per_project)]
        if caps.per_enterprise:
            names.append((("enterprise", pairs.need_party[i]), caps.per_enterprise))
        if caps.per_institution:
            names.append((("institution", pairs.project_party[i]), caps.per_institution))
        if caps.per_need_institution:
            names.append((("need-institution", pairs.needs[i], pairs.project_party[i]), caps.per_need_institution))
        for name, limit in names:
            groups.setdefault(name, []).append(i)
            limits[name] = limit
    matrix = np.zeros((len(groups), len(pairs)))
    for row, members in enumerate(groups.values()):
        matrix[row, members] = 1
    result = milp(
        -pairs.scores.astype(float),
        constraints=LinearConstraint(matrix, -np.inf, [limits[n] for n in groups]),
        integrality=np.ones(len(pairs)),
        bounds=Bounds(0, 1),
    )
    return -result.fun


def _caps_kept(pairs: PairTable, chosen: np.ndarray, caps: Caps) -> bool:
    counts: dict[tuple, int] = {}
    for i in np.flatnonzero(chosen):
        for name in (
            ("n", pairs.needs[i]),
            ("p", pairs.projects[i]),
            ("e", pairs.need_party[i]),
            ("i", pairs.project_party[i]),
            ("ni", pairs.needs[i], pairs.project_party[i]),
        ):
            counts[name] = counts.get(name, 0) + 1
    limit = {
        "n": caps.per_need,
        "p": caps.per_project,
        "e": caps.per_enterprise,
        "i": caps.per_institution,
        "ni": caps.per_need_institution,
    }
    return all(limit[name[0]] is None or count <= limit[name[0]] for name, count in counts.items())


@pytest.mark.parametrize("seed", range(12))
def test_flow_finds_the_integer_programs_optimum_and_never_loses_to_greedy(seed):
    rng = np.random.default_rng(seed)
    needs, projects = int(rng.integers(3, 10)), int(rng.integers(3, 10))
    pairs = [(n, p) for n in range(needs) for p in range(projects) if rng.random() < 0.6]
    enterprise, institution = rng.integers(0, 3, needs), rng.integers(0, 3, projects)
    table = PairTable(
        [n for n, _ in pairs],
        [p for _, p in pairs],
        rng.random(len(pairs)).astype(np.float32),
        [int(enterprise[n]) for n, _ in pairs],
        [int(institution[p]) for _, p in pairs],
    )
    caps = Caps(
        int(rng.integers(1, 3)),
        int(rng.integers(1, 3)),
        int(rng.integers(1, 4)),
        int(rng.integers(1, 4)),
        int(rng.integers(1, 3)),
    )
    flow, greedy = solve_flow(table, caps), solve_greedy(table, caps)
    assert _caps_kept(table, flow, caps) and _caps_kept(table, greedy, caps)
    assert table.scores[flow].sum() == pytest.approx(_milp_optimum(table, caps), abs=1e-4)
    assert table.scores[greedy].sum() <= table.scores[flow].sum() + 1e-6


def test_flow_beats_greedy_where_the_best_pair_blocks_two_good_ones():
    table = PairTable(
        ["A", "A", "B"], ["x", "y", "x"], np.array([0.9, 0.8, 0.85], np.float32), ["a", "a", "b"], ["i", "j", "i"]
    )
    caps = Caps(per_project=1, per_need=1)
    assert solve_greedy(table, caps).tolist() == [True, False, False]
    assert solve_flow(table, caps).tolist() == [False, True, True]


def test_flow_prefers_total_score_to_the_number_of_introductions():
    # Two weak pairs would make more introductions but less total score than one strong pair.
    table = PairTable(
        ["A", "B", "A"], ["x", "x", "y"], np.array([0.9, 0.2, 0.2], np.float32), ["a", "b", "a"], ["i", "i", "j"]
    )
    assert solve_flow(table, Caps(per_project=1, per_need=1)).tolist() == [True, False, False]


def test_empty_candidates_give_an_empty_plan():
    table = PairTable([], [], np.zeros(0, np.float32), [], [])
    assert solve_flow(table, Caps(1, 1)).tolist() == [] and solve_greedy(table, Caps(1, 1)).tolist() == []


# -- scoring ---------------------------------------------------------------------------------


def _index(kind: Kind, count: int, rng: np.random.Generator) -> tuple[VectorIndex, dict[int, np.ndarray]]:
    index = VectorIndex(kind, "test", 16)
    keys = list(range(5, 5 + 3 * count, 3))
    blocks = []
    for _ in keys:
        block = rng.normal(size=(int(rng.integers(1, 4)), 16)).astype(np.float32)
        blocks.append(block / np.linalg.norm(block, axis=1, keepdims=True))
    index.add(keys, blocks, ["digest"] * count)
    return index, dict(zip(keys, blocks))


@pytest.fixture
def sides():
    rng = np.random.default_rng(7)
    projects, project_blocks = _index(Kind.PROJECTS, 30, rng)
    needs, need_blocks = _index(Kind.NEEDS, 25, rng)
    need_side, project_side = side_vectors(needs), side_vectors(projects)
    brute = np.array(
        [[(need_blocks[n] @ project_blocks[p].T).max() for p in project_side.keys] for n in need_side.keys]
    )
    return need_side, project_side, brute


def test_record_similarities_are_the_best_passage_pair(sides):
    need_side, project_side, brute = sides
    np.testing.assert_allclose(record_similarities(need_side, project_side), brute, atol=1e-5)


@pytest.mark.parametrize("cells", [10, 200, 10**9])
def test_best_pairs_keeps_each_sides_best_whatever_the_block_size(sides, cells):
    need_side, project_side, brute = sides
    found = best_pairs(need_side, project_side, depth=3, floor=0.1, cells=cells)
    got = set(zip(found.need_keys.tolist(), found.project_keys.tolist()))
    expected = set()
    for row, need in enumerate(need_side.keys):
        expected |= {
            (int(need), int(project_side.keys[c])) for c in np.argsort(-brute[row])[:3] if brute[row, c] >= 0.1
        }
    for column, project in enumerate(project_side.keys):
        expected |= {
            (int(need_side.keys[r]), int(project)) for r in np.argsort(-brute[:, column])[:3] if brute[r, column] >= 0.1
        }
    assert got == expected
    assert found.scored_pairs == brute.size and found.below_floor == int((brute < 0.1).sum())
    assert found.best_score == pytest.approx(brute.max(), abs=1e-5)


def test_every_eligible_pair_is_kept_when_they_are_few_enough(sides):
    need_side, project_side, brute = sides
    eligible = int((brute >= 0.1).sum())
    everything = best_pairs(need_side, project_side, depth=1, floor=0.1, cells=60, keep_all=eligible)
    assert everything.complete and everything.pruned == 0 and len(everything) == eligible
    assert set(zip(everything.need_keys.tolist(), everything.project_keys.tolist())) == {
        (int(need_side.keys[r]), int(project_side.keys[c])) for r, c in zip(*np.nonzero(brute >= 0.1))
    }
    pruned = best_pairs(need_side, project_side, depth=1, floor=0.1, cells=60, keep_all=eligible - 1)
    assert not pruned.complete and pruned.eligible == eligible and pruned.pruned == eligible - len(pruned) > 0


def test_the_best_of_each_record_alone_can_miss_the_optimum():
    # Each record's single best pair is u1-v1, so a plan over those alone totals 0.9; over every
    # pair it is u1-v1 plus u2-v2. This is why all pairs are weighed when they are few enough.
    table = PairTable(
        ["u1", "u1", "u2", "u2"],
        ["v1", "v2", "v1", "v2"],
        np.array([0.9, 0.6, 0.7, 0.5], np.float32),
        ["a", "a", "b", "b"],
        ["i", "j", "i", "j"],
    )
    chosen = solve_flow(table, Caps(1, 1))
    assert table.scores[chosen].sum() == pytest.approx(1.4)


def test_excluded_pairs_make_room_for_the_next_best(sides):
    need_side, project_side, brute = sides
    need = int(need_side.keys[0])
    order = np.argsort(-brute[0])
    banned = {int(project_side.keys[c]) for c in order[:2]}
    found = best_pairs(need_side, project_side, depth=2, floor=-1.0, excluded={need: banned})
    mine = {int(p) for n, p in zip(found.need_keys, found.project_keys) if n == need}
    assert not mine & banned
    assert {int(project_side.keys[c]) for c in order[2:4]} <= mine
    assert found.excluded == 2


def test_ranks_count_the_better_records_by_strength():
    scores = np.asarray([[0.2, 0.9, 0.5], [0.95, 0.1, 0.4]], dtype=np.float32)  # needs 10, 11 x projects 1, 2, 3

    def strengths(need_keys: np.ndarray, project_keys: np.ndarray) -> np.ndarray:
        return scores[np.ix_(need_keys - 10, project_keys - 1)]

    need_ranks, project_ranks = strength_ranks(
        strengths, np.asarray([10, 11]), np.asarray([1, 2, 3]), [(10, 3), (11, 1)]
    )
    assert need_ranks == {(10, 3): 2, (11, 1): 1}
    assert project_ranks == {(3, 10): 1, (1, 11): 1}


def test_side_vectors_of_a_subset_keeps_only_indexed_keys(sides):
    rng = np.random.default_rng(1)
    index, blocks = _index(Kind.PROJECTS, 4, rng)
    subset = side_vectors(index, [8, 14, 999])
    assert subset.keys.tolist() == [8, 14]
    np.testing.assert_allclose(subset.vectors, np.vstack([blocks[8], blocks[14]]))


# -- conflicts -------------------------------------------------------------------------------


def project(record_id: str, institution: str, contact: str) -> Record:
    return Record(Kind.PROJECTS, record_id, "t", "b", {"institution": institution, "contact": contact})


def need(record_id: str, enterprise: str, contact: str) -> Record:
    return Record(Kind.NEEDS, record_id, "t", "b", {"enterprise": enterprise, "contact": contact})


def test_party_marks_read_names_emails_and_institution_domains():
    marks = party_marks(project("P1", "Northeast  Automotive University", "Prof. Lin Chao <lin.chao@NEAU.example.edu>"))
    assert {
        "name:northeast automotive university",
        "name:lin chao",
        "email:lin.chao@neau.example.edu",
        "domain:neau.example.edu",
        "id:p1",
    } == marks
    assert not any(mark.startswith("domain:") for mark in party_marks(need("N1", "长白光学", "赵杰 <zj@qq.com>")))


def test_exclusions_by_party_file_and_history():
    projects = {
        1: project("P1", "Northeast Automotive University", "Lin Chao <lin@neau.example.edu>"),
        2: project("P2", "Changbai Medical University", "Cao Min <cao@cbmu.example.edu>"),
        3: project("P3", "Institute of Optics", "Yang Tao <yang@gmail.com>"),
    }
    needs = {
        10: need("N1", "northeast automotive university", "Wu <wu@factory.example.com>"),  # same institution
        11: need("N2", "Changbai Diagnostics Co.", "Li <li@cbmu.example.edu>"),  # same mail domain
        12: need("N3", "Optics Buyer Co.", "Zhao <zhao@gmail.com>"),  # shared public mail: no conflict
        13: need("N4", "Dalian Subsea Equipment Co.", "Sun <sun@dlsubsea.example.com>"),
    }
    rules = rules_from_objects([{"project": "Yang Tao", "need": "@dlsubsea.example.com"}])
    found = find_exclusions(projects, needs, rules, introduced=[("P2", "N4")], declined=[("P3", "N3"), ("P9", "N1")])
    assert (10, 1) in found and (11, 2) in found and (13, 3) in found and (13, 2) in found and (12, 3) in found
    assert (12, 1) not in found and (10, 2) not in found
    assert found.reasons == {"same_party": 2, "conflicts_file": 1, "introduced_before": 1, "declined_not_relevant": 1}


def test_conflicts_file_errors_name_row_and_column(tmp_path):
    path = tmp_path / "conflicts.csv"
    path.write_text("project,need\nLin Chao,Changbai Auto\n,Dalian Subsea\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        rules_from_table(read_table(path))
    assert f"{path}, row 3, field 'project'" in str(caught.value)
    path.write_text("institution,enterprise\nA,B\n", encoding="utf-8")
    with pytest.raises(ValidationFailed, match="needs the columns"):
        rules_from_table(read_table(path))


# -- exports ---------------------------------------------------------------------------------

PLAN = {
    "parameters": {"max_per_project": 2, "max_per_need": 1},
    "total_score": 0.81,
    "diagnostics": {"introductions": 1, "excluded_pairs": {"same_party": 2}},
    "introductions": [
        {
            "project_id": "P1",
            "project_title": "激光焊接",
            "project_institution": "长白理工大学",
            "project_contact": "a@x.cn",
            "need_id": "N1",
            "need_title": "Welding",
            "need_enterprise": "Co.",
            "need_contact": "b@y.com",
            "score": 0.81,
            "rank_for_need": 1,
            "rank_for_project": 2,
            "explanation": "Shares 激光焊接.",
        }
    ],
}


def test_csv_export_has_the_columns_and_excel_readable_chinese(tmp_path):
    rows = list(csv.DictReader(io.StringIO(plan_csv(PLAN).decode("utf-8-sig"))))
    assert tuple(rows[0]) == COLUMNS and rows[0]["project_title"] == "激光焊接" and rows[0]["score"] == "0.81"
    assert plan_csv(PLAN).startswith(b"\xef\xbb\xbf")


def test_xlsx_export_has_the_plan_and_its_summary(tmp_path):
    path = write_plan(PLAN, tmp_path / "plan.xlsx")
    book = load_workbook(path)
    sheet = list(book["introductions"].values)
    assert sheet[0] == COLUMNS and sheet[1][COLUMNS.index("rank_for_project")] == 2
    summary = dict(list(book["summary"].values)[1:])
    assert summary["max_per_need"] == 1 and summary["excluded_pairs"] == '{"same_party": 2}'
    assert plan_xlsx(PLAN)[:2] == b"PK"


def test_a_wrong_suffix_writes_nothing(tmp_path):
    with pytest.raises(Exception, match=r"csv or \.xlsx"):
        write_plan(PLAN, tmp_path / "plan.txt")
    assert list(tmp_path.iterdir()) == []


def test_formulas_in_record_text_stay_plain_text_in_both_exports(tmp_path):
    row = {
        **PLAN["introductions"][0],
        "project_title": '=HYPERLINK("http://x.example","click")',
        "need_contact": "@boss",
    }
    plan = {**PLAN, "introductions": [row]}
    rows = list(csv.DictReader(io.StringIO(plan_csv(plan).decode("utf-8-sig"))))
    assert (
        rows[0]["project_title"] == '\'=HYPERLINK("http://x.example","click")' and rows[0]["need_contact"] == "'@boss"
    )
    cell = load_workbook(write_plan(plan, tmp_path / "plan.xlsx"))["introductions"].cell(
        2, COLUMNS.index("project_title") + 1
    )
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")


def test_the_same_person_and_mail_host_domains_are_recognised():
    first = project("P1", "Dalian University of Technology", "Wang Wei, +86 411 8470 0000 <wangwei@mail.dlut.edu.cn>")
    second = need("N1", "Bohai Robotics Co.", "Wang Wei <ww@dlut.edu.cn>")
    assert {"name:wang wei", "domain:dlut.edu.cn"} <= party_marks(first) & party_marks(second)
    assert (1, 0) in find_exclusions({0: first}, {1: second})
