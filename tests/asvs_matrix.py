"""Reads docs/asvs.md (the ASVS 5.0 matrix) and docs/asvs-scope.txt, and says what is wrong.

tests/test_asvs_matrix.py runs these checks in CI. By hand:

    .venv/bin/python tests/asvs_matrix.py            # the problems, exit 1 if any
    .venv/bin/python tests/asvs_matrix.py --summary  # the counts block for the README
    .venv/bin/python tests/asvs_matrix.py --write    # rewrite that block in both documents
    .venv/bin/python tests/asvs_matrix.py --rows F   # only the rows in F, for their chapters
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / "docs" / "asvs.md"
SCOPE = ROOT / "docs" / "asvs-scope.txt"
README = ROOT / "README.md"

STATUSES = ("met", "n/a", "not met")
# How many requirements ASVS 5.0.0 publishes per chapter at levels 1, 2 and 3: the scope file
# must hold every one of them, so an id deleted from it (to dodge a row) fails as well.
PUBLISHED = {
    "V3": (8, 11, 12),
    "V6": (13, 22, 12),
    "V7": (6, 12, 1),
    "V9": (4, 3, 0),
    "V11": (3, 11, 10),
    "V16": (0, 16, 1),
}
CHAPTERS = {
    "V3": "Web Frontend Security",
    "V6": "Authentication",
    "V7": "Session Management",
    "V9": "Self-contained Tokens",
    "V11": "Cryptography",
    "V16": "Security Logging and Error Handling",
}
ROW = re.compile(r"^\|\s*(V\d+\.\d+\.\d+)\s*\|(.*)\|\s*$")
TEST_ID = re.compile(r"`(tests/[^`\s]+\.py::[^`\s]+)`")
SUMMARY = re.compile(r"<!-- asvs-summary -->\n(.*?)<!-- /asvs-summary -->", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Row:
    """One requirement's line in the matrix."""

    id: str
    level: int
    status: str
    how: str
    tests: tuple[str, ...]
    line: int

    @property
    def chapter(self) -> str:
        return self.id.split(".", 1)[0]


def read_scope(text: str) -> dict[str, int]:
    """`id level` lines, comments and blanks skipped."""
    scope: dict[str, int] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            req_id, level = line.split()
            scope[req_id] = int(level)
    return scope


def read_rows(text: str) -> tuple[list[Row], list[str]]:
    """The matrix's requirement rows, and the lines that look like rows but do not parse."""
    rows: list[Row] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        found = ROW.match(line)
        if not found:
            continue
        cells = [cell.strip() for cell in found[2].split("|")]
        if len(cells) != 4 or not cells[0].isdigit() or cells[1] not in STATUSES:
            problems.append(
                f"line {number}: {found[1]}: a row is | id | level | status | how | tests |, "
                f"status one of {', '.join(STATUSES)}"
            )
            continue
        tests = tuple(TEST_ID.findall(cells[3]))
        rows.append(Row(found[1], int(cells[0]), cells[1], cells[2], tests, number))
    return rows, problems


def problems(scope: Mapping[str, int], rows: Sequence[Row], collected: Iterable[str]) -> list[str]:
    """Everything that makes the matrix dishonest or incomplete; empty when it holds."""
    found: list[str] = []
    published = Counter((req_id.split(".", 1)[0], level) for req_id, level in scope.items())
    for chapter, counts in PUBLISHED.items():
        for level, count in enumerate(counts, start=1):
            if published[chapter, level] != count:
                found.append(
                    f"the scope file has {published[chapter, level]} level {level} ids of "
                    f"{chapter}; ASVS 5.0.0 has {count}"
                )
    seen = Counter(row.id for row in rows)
    for req_id, times in seen.items():
        if times > 1:
            found.append(f"{req_id} has {times} rows; one is the rule")
    for req_id, level in scope.items():
        if level <= 2 and req_id not in seen:
            found.append(f"{req_id} (level {level}) has no row")
    names = set(collected)
    for row in rows:
        where = f"{row.id} (line {row.line})"
        if row.id not in scope:
            found.append(f"{where} is not an id of the assessed chapters of ASVS 5.0.0")
            continue
        if row.level != scope[row.id]:
            found.append(f"{where} is level {scope[row.id]}, not {row.level}")
        if len(row.how) < 20:
            found.append(f"{where} needs a sentence saying how, or why not")
        if row.status == "met" and not row.tests:
            found.append(f"{where} is met without a test")
        for test in row.tests:
            if not _collected(test, names):
                found.append(f"{where} names {test}, which pytest does not collect")
    return found


def _collected(test: str, names: set[str]) -> bool:
    """A named test counts when pytest collects it, or any parametrization or method of it."""
    return test in names or any(n.startswith((test + "[", test + "::")) for n in names)


def collect(tests: Iterable[str]) -> set[str]:
    """The node ids pytest collects from the files the named tests live in."""
    files = sorted({test.split("::", 1)[0] for test in tests})
    files = [name for name in files if (ROOT / name).is_file()]
    if not files:
        return set()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"collecting {files} failed:\n{done.stdout[-4000:]}{done.stderr}")
    return {line.strip() for line in done.stdout.splitlines() if "::" in line}


def tally(rows: Sequence[Row]) -> dict[tuple[str, int], Counter[str]]:
    """Statuses per chapter and level."""
    counts: dict[tuple[str, int], Counter[str]] = {}
    for row in rows:
        counts.setdefault((row.chapter, row.level), Counter())[row.status] += 1
    return counts


def summary(rows: Sequence[Row]) -> str:
    """The counts table the README and the matrix both show, between their markers."""
    counts = tally(rows)
    lines = [
        "| chapter | level reached | level 1 | level 2 | level 3 (where cheap) |",
        "|---|---|---|---|---|",
    ]
    for chapter, name in CHAPTERS.items():
        # The highest level whose rows and those below are all met or not applicable;
        # level 3 is never claimed, as only its cheap rows are assessed.
        reached = 0
        while reached < 2 and not counts.get((chapter, reached + 1), Counter())["not met"]:
            reached += 1
        cells = [str(reached) if reached else "none"]
        for level in (1, 2, 3):
            count = counts.get((chapter, level), Counter())
            if not count:
                cells.append("-")
                continue
            cells.append(f"{count['met']} met, {count['n/a']} n/a, {count['not met']} not met")
        lines.append(f"| {chapter} {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summary_problems(rows: Sequence[Row], documents: Mapping[str, str]) -> list[str]:
    """Each document's counts block says what the rows say."""
    expected = summary(rows)
    found = []
    for name, text in documents.items():
        block = SUMMARY.search(text)
        if block is None:
            found.append(f"{name} has no <!-- asvs-summary --> block")
        elif block[1] != expected:
            found.append(f"{name}'s counts are stale; `python tests/asvs_matrix.py --summary`")
    return found


def main(argv: Sequence[str]) -> int:
    part = Path(argv[argv.index("--rows") + 1]) if "--rows" in argv else None
    rows, bad = read_rows((part or MATRIX).read_text("utf-8"))
    if "--summary" in argv:
        print(summary(rows), end="")
        return 0
    if "--write" in argv:
        block = f"<!-- asvs-summary -->\n{summary(rows)}<!-- /asvs-summary -->"
        for path in (MATRIX, README):
            path.write_text(SUMMARY.sub(lambda _: block, path.read_text("utf-8")), "utf-8")
    scope = read_scope(SCOPE.read_text("utf-8"))
    named = {test for row in rows for test in row.tests}
    found = bad + problems(scope, rows, collect(named))
    if part is None:
        documents = {"docs/asvs.md": MATRIX.read_text("utf-8"), "README.md": README.read_text()}
        found += summary_problems(rows, documents)
    else:  # a part of the matrix: only its own chapters must be complete
        chapters = {row.chapter for row in rows}
        found = [p for p in found if p.split(".", 1)[0].split()[-1] in chapters or "line" in p]
    print("\n".join(found) if found else f"{len(rows)} rows, no problems")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
