"""The ASVS 5.0 matrix (docs/asvs.md) stays complete and every test it names exists.

Adding an id to the scope file without a row, a second row for an id, a "met" row without a
test, or deleting a test a row names: each fails here. The checks themselves are tested on
small matrices below, so a checker that passes everything fails too.
"""

from __future__ import annotations

import pytest

from asvs_matrix import (
    MATRIX,
    PUBLISHED,
    README,
    SCOPE,
    collect,
    problems,
    read_rows,
    read_scope,
    summary,
    summary_problems,
)

SCOPE_IDS = read_scope(SCOPE.read_text("utf-8"))
MATRIX_TEXT = MATRIX.read_text("utf-8")


def test_the_matrix_is_complete_and_every_named_test_is_collected() -> None:
    rows, bad = read_rows(MATRIX_TEXT)
    named = {test for row in rows for test in row.tests}
    assert bad == []
    assert problems(SCOPE_IDS, rows, collect(named)) == []


def test_the_readme_and_the_matrix_show_the_counts_of_the_rows() -> None:
    rows, _ = read_rows(MATRIX_TEXT)
    documents = {"docs/asvs.md": MATRIX_TEXT, "README.md": README.read_text("utf-8")}
    assert summary_problems(rows, documents) == []


def test_every_level_1_and_2_id_of_authentication_sessions_and_tokens_is_met_or_argued() -> None:
    rows, _ = read_rows(MATRIX_TEXT)
    core = [r for r in rows if r.chapter in ("V6", "V7", "V9") and r.level <= 2]
    assert len(core) == sum(sum(PUBLISHED[c][:2]) for c in ("V6", "V7", "V9"))
    assert [r.id for r in core if r.status == "not met"] == []


# The checker on small matrices: each way of cheating is caught.
SMALL_SCOPE = {"V9.1.1": 1, "V9.1.2": 1, "V9.2.1": 2, "V9.9.9": 3}
GOOD = """
| id | level | status | how | tests |
|---|---|---|---|---|
| V9.1.1 | 1 | met | signatures are checked first | `tests/a.py::test_one` |
| V9.1.2 | 1 | n/a | authgate issues no tokens of the kind this concerns | |
| V9.2.1 | 2 | met | expiry checked with leeway | `tests/a.py::test_two`, `tests/b.py::C::test_3` |
"""
COLLECTED = {"tests/a.py::test_one", "tests/a.py::test_two[sqlite]", "tests/b.py::C::test_3"}


def small_problems(text: str, collected: set[str] = COLLECTED) -> list[str]:
    rows, bad = read_rows(text)
    scope = dict(SMALL_SCOPE)
    return bad + [p for p in problems(scope, rows, collected) if "ASVS 5.0.0 has" not in p]


def test_a_good_small_matrix_has_no_problems() -> None:
    assert small_problems(GOOD) == []


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (
            lambda t: t.replace("| V9.2.1 | 2 | met", "| V9.2.9 | 2 | met"),
            "V9.2.1 (level 2) has no row",
        ),
        (
            lambda t: "\n".join(line for line in t.splitlines() if "V9.1.2" not in line),
            "V9.1.2 (level 1) has no row",
        ),
        (
            lambda t: (
                t + "| V9.1.1 | 1 | met | signatures, a second time | `tests/a.py::test_one` |\n"
            ),
            "V9.1.1 has 2 rows",
        ),
        (lambda t: t.replace("`tests/a.py::test_one`", ""), "is met without a test"),
        (
            lambda t: t.replace("test_one", "test_gone"),
            "names tests/a.py::test_gone, which pytest does not collect",
        ),
        (
            lambda t: t.replace("| V9.2.1 | 2 |", "| V9.2.1 | 1 |"),
            "V9.2.1 (line 6) is level 2, not 1",
        ),
        (
            lambda t: t.replace("| n/a |", "| maybe |"),
            "a row is | id | level | status | how | tests |",
        ),
        (
            lambda t: t.replace("authgate issues no tokens of the kind this concerns", "no"),
            "needs a sentence",
        ),
        (
            lambda t: (
                t + "| V8.1.1 | 1 | met | a chapter not assessed | `tests/a.py::test_one` |\n"
            ),
            "V8.1.1 (line 7) is not an id",
        ),
    ],
    ids=[
        "row-renamed",
        "row-removed",
        "row-twice",
        "met-without-test",
        "test-removed",
        "wrong-level",
        "bad-status",
        "no-reason",
        "foreign-id",
    ],
)
def test_each_way_of_cheating_is_caught(change, complaint) -> None:  # type: ignore[no-untyped-def]
    found = small_problems(change(GOOD))
    assert any(complaint in p for p in found), found


def test_a_level_3_row_is_optional_but_checked_when_present() -> None:
    assert (
        small_problems(
            GOOD + "| V9.9.9 | 3 | met | a level 3 extra, cheap here | `tests/a.py::test_one` |\n"
        )
        == []
    )
    assert small_problems(GOOD + "| V9.9.9 | 3 | met | a level 3 extra, cheap here | |\n") != []


def test_the_scope_file_must_hold_every_published_id() -> None:
    rows, _ = read_rows(MATRIX_TEXT)
    fewer = dict(SCOPE_IDS)
    fewer.pop("V6.1.1")
    assert "the scope file has 12 level 1 ids of V6; ASVS 5.0.0 has 13" in problems(
        fewer, rows, set()
    )


def test_stale_counts_are_caught() -> None:
    rows, _ = read_rows(GOOD)
    fresh = "<!-- asvs-summary -->\n" + summary(rows) + "<!-- /asvs-summary -->"
    assert summary_problems(rows, {"x": fresh}) == []
    stale = (
        fresh.replace("2 met", "3 met", 1)
        if "2 met" in fresh
        else fresh.replace("1 met", "2 met", 1)
    )
    assert summary_problems(rows, {"x": stale}) != []
    assert summary_problems(rows, {"x": "no block"}) == ["x has no <!-- asvs-summary --> block"]
