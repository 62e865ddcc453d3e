"""Print the test counts of pytest JUnit XML reports, for scripts/test.sh's summary.

``junit_counts.py REPORT`` prints ``N passed, N failed, N skipped`` for one report;
``junit_counts.py --total REPORT...`` prints the same line summed over all reports, prefixed ``total:``.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path


def counts(path: str) -> Counter[str]:
    """The counts of one report; a missing report (pytest died before writing it) counts nothing."""
    if not Path(path).is_file():
        return Counter()
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    total: Counter[str] = Counter()
    for suite in suites:
        tests, failures, errors, skipped = (
            int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")
        )
        total["passed"] += tests - failures - errors - skipped
        total["failed"] += failures + errors
        total["skipped"] += skipped
    return total


def line(c: Counter[str]) -> str:
    return f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped"


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--total":
        print("total:", line(sum((counts(p) for p in argv[1:]), Counter())))
    else:
        print(line(counts(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
