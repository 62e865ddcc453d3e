"""Round trips to Snowflake per unit of work, by statement shape, against the minimum each unit needs.

On the emulated account (``tests/emulator``: fakesnow's server plus the ML and SPCS statements, the real
connector, Snowpark and snowflake-ml over HTTP on loopback), the example DAGs' work runs once, unit by
unit (warehouse task, batch submit, one trigger poll, one synchronous wait poll, the batch task's finish,
the load, a cleanup), and every statement the libraries send is recorded. Per unit it prints the count
of each statement shape (literals and generated names replaced), the total, the minimum the unit needs
(``tests/emulator/round_trips.py`` gives the reason for each of its statements) and their ratio
(goal: at most 1.5), and how many of the statements the libraries (snowflake-ml, Snowpark) send on
their own beyond the minimum, with the ratio without them. The counts do not depend on the data
size; nothing is asserted here
(``tests/emulator/test_round_trips.py`` pins the shapes).

Run: ``.venv/bin/python benchmarks/round_trips.py [--shapes]`` or ``--smoke`` (CI: the same run, 12 rows,
totals only). ``--minimum`` also prints the minimum's statements and reasons.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from emulator import round_trips  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="totals only: for CI")
    parser.add_argument("--shapes", action="store_true", help="print each unit's statement shapes")
    parser.add_argument("--minimum", action="store_true", help="print each unit's minimum and its reasons")
    args = parser.parse_args()
    round_trips.environment()
    logging.disable(logging.WARNING)
    # The emulated account serves plain http on loopback; the connector speaks https unless told.
    from snowflake.connector import connection

    connection.DEFAULT_CONFIGURATION["protocol"] = ("http", str)
    from emulator.account import emulated_account
    from emulator.fixtures import connection_json

    with emulated_account() as account:
        round_trips.seed(account)
        os.environ["AIRFLOW_CONN_ROUND_TRIPS"] = connection_json(account, *round_trips.SCHEMA.split("."))
        measured = round_trips.measure(account, "round_trips")

    print(
        f"{'unit of work':<16} {'sent':>5} {'minimum':>8} {'ratio':>6} {'libraries':>10} {'ratio w/o':>10}"
        "  goal: ratio <= 1.5"
    )
    for unit in measured:
        ratio, own = len(unit.shapes) / unit.minimum, unit.provider_count / unit.minimum
        verdict = "met" if ratio <= 1.5 else ("met without the libraries' own" if own <= 1.5 else "NOT met")
        print(
            f"{unit.unit:<16} {len(unit.shapes):>5} {unit.minimum:>8} {ratio:>6.2f} {unit.library_count:>10} "
            f"{own:>10.2f}  {verdict}"
        )
        if args.shapes and not args.smoke:
            for text, count in unit.by_shape.items():
                print(f"{'':<4}{count:>3} x {text}")
        if args.minimum and not args.smoke:
            for what, count, why in round_trips.MINIMUM[unit.unit]:
                print(f"{'':<4}minimum {count} x {what}: {why}")
    if args.minimum and not args.smoke:
        print("\nSent by the libraries on their own (beyond the minimum):")
        for pattern, why in round_trips.LIBRARY:
            print(f"    {pattern}: {why}")


if __name__ == "__main__":
    main()
