"""``rescore`` (docs/rescoring.rst) on both backends and both paths: a rerun rescores only what changed.

Warehouse: two days, each from its own input table, into partitions of PREDS. Batch: one task's tries
(``JOB_1``, ``JOB_1_T2``...), as a retry or a cleared task runs them.
"""

from __future__ import annotations

from contract_models import ScorerV2, signature
from contract_sides import MODEL
from contract_support import OUTPUT, features, load, rows, scored, stage_job_output

from airflow_snowflake_batch.inference.fingerprint import SCORING_RUNS_TABLE
from airflow_snowflake_batch.job_status import BatchJobStatus
from airflow_snowflake_batch.utils.cost import batch_job_cost

DAY_1, DAY_2 = "2024-01-01", "2024-01-02"
INPUTS = {DAY_1: "IN_1", DAY_2: "IN_2"}
BASE = "@OUT/preds/"


def score_day(side, day: str, **kwargs):
    with side.hook() as hook:
        return hook.run_warehouse_scoring(
            model_name=MODEL,
            version_name=None,
            function_name=None,
            source=hook.input_source(input_table=INPUTS[day]),
            output_table=OUTPUT,
            output_partition={"DS": day},
            **kwargs,
        )


def day_rows(side, day: str) -> list[tuple]:
    table = side.read_table(OUTPUT)
    return rows(table[table["DS"] == day], ["ID", "SCORE"])


def v2_scored(frame):
    return frame.assign(SCORE=frame["SEPAL_LENGTH"] * 3 + frame["SPECIES_CODE"])


def two_days(side) -> None:
    side.write_table(INPUTS[DAY_1], features(range(4)))
    side.write_table(INPUTS[DAY_2], features(range(4, 7), day_offset=1))
    first = [score_day(side, day) for day in INPUTS]
    assert [f.reused for f in first] == [False, False]
    # The cost estimate's warehouse: the session's on Snowflake (SHOW WAREHOUSES), none locally.
    assert first[0].warehouse_size == {"local": None, "snowflake": "X-Small"}[side.name]


def test_warehouse_rerun_with_nothing_changed_scores_nothing_and_always_forces(side):
    two_days(side)
    before = rows(side.read_table(OUTPUT))

    again = [score_day(side, day) for day in INPUTS]

    assert [(a.reused, a.rows) for a in again] == [(True, 4), (True, 3)]
    assert "nothing changed" in again[0].reason
    assert rows(side.read_table(OUTPUT)) == before
    # Nothing was scored: scores changed behind the provider's back stay (rescore compares inputs).
    side.write_table(OUTPUT, side.read_table(OUTPUT).assign(SCORE=-1.0))
    assert score_day(side, DAY_1).reused
    assert {score for _, score in day_rows(side, DAY_1)} == {-1.0}
    # rescore="always" scores again, whatever the record says.
    forced = score_day(side, DAY_1, rescore="always")
    assert (forced.reused, forced.rows) == (False, 4)
    assert day_rows(side, DAY_1) == rows(scored(features(range(4))), ["ID", "SCORE"])
    # The record a person reads: one row per partition, with the version that scored it.
    runs = side.read_table(SCORING_RUNS_TABLE)
    assert rows(runs, ["PARTITION_KEY", "MODEL_VERSION", "INPUT_ROWS"]) == [
        ('{"DS":"2024-01-01"}', "V1", 4.0),
        ('{"DS":"2024-01-02"}', "V1", 3.0),
    ]


def test_warehouse_new_default_version_rescores_every_day_with_its_predictions(side):
    two_days(side)
    side.log_default_version("V2", ScorerV2(), signature())

    again = [score_day(side, day) for day in INPUTS]

    assert [(a.reused, a.model.version.value) for a in again] == [(False, "V2"), (False, "V2")]
    assert "model version V1 -> V2" in again[0].reason
    assert day_rows(side, DAY_1) == rows(v2_scored(features(range(4))), ["ID", "SCORE"])
    assert day_rows(side, DAY_2) == rows(v2_scored(features(range(4, 7), day_offset=1)), ["ID", "SCORE"])
    assert [score_day(side, day).reused for day in INPUTS] == [True, True]


def test_warehouse_changed_input_rows_rescore_that_day_only(side):
    two_days(side)
    changed = features(range(4, 7), day_offset=1)
    changed.loc[1, "SEPAL_LENGTH"] = 9.5  # one value of one row of day 2
    side.write_table(INPUTS[DAY_2], changed)

    again = {day: score_day(side, day) for day in INPUTS}

    assert (again[DAY_1].reused, again[DAY_2].reused) == (True, False)
    assert "input" in again[DAY_2].reason
    assert day_rows(side, DAY_2) == rows(scored(changed), ["ID", "SCORE"])
    assert day_rows(side, DAY_1) == rows(scored(features(range(4))), ["ID", "SCORE"])


def test_warehouse_a_load_into_a_scored_partition_makes_the_next_run_score_it(side):
    two_days(side)
    folder = "@OUT/jobs/OTHER/"
    stage_job_output(side, scored(features(range(20, 22))), folder=folder)
    load(side, folder=folder, output_partition={"DS": DAY_1}, mode="overwrite")

    again = score_day(side, DAY_1)

    assert not again.reused and "no record" in again.reason
    assert day_rows(side, DAY_1) == rows(scored(features(range(4))), ["ID", "SCORE"])


# -- batch ------------------------------------------------------------------------------------------


def start(side, hook, *, try_number: int, **kwargs):
    spec = hook.build_batch_job_spec(
        model_name=MODEL,
        version_name=None,
        function_name=None,
        source=hook.input_source(input_table="INPUT"),
        compute_pool="POOL",
        output_stage_location=BASE,
        job_name="JOB_1",
    )
    return hook.start_batch_job(spec, try_number=try_number, **kwargs)


def finished(side, hook, *, try_number: int, **kwargs):
    job = start(side, hook, try_number=try_number, **kwargs)
    assert side.wait(hook, job.job_id).status is BatchJobStatus.DONE
    return job


def loaded(side, job) -> list[tuple]:
    load(side, folder=job.output_location.sql, mode="overwrite")
    return rows(side.read_table(OUTPUT), ["ID", "SCORE"])


def test_batch_rerun_reuses_only_an_unchanged_job(side):
    """One task's tries: the same run again reuses try 1's job; changed rows, a new default version and
    rescore="always" each get a new job (this try's name), whose results are the new scores."""
    side.write_table("INPUT", features(range(4)))
    with side.hook() as hook:
        first = finished(side, hook, try_number=1)

        same = start(side, hook, try_number=2)
        assert (same.job_id, same.reused) == (first.job_id, True)

        changed = features(range(4)).assign(SEPAL_LENGTH=[1.0, 2.0, 3.0, 8.0])
        side.write_table("INPUT", changed)
        second = finished(side, hook, try_number=2)
        assert (second.job_name, second.reused, second.reattached) == ("JOB_1_T2", False, False)
        assert loaded(side, second) == rows(scored(changed), ["ID", "SCORE"])

    side.log_default_version("V2", ScorerV2(), signature())
    with side.hook() as hook:  # a new try: the registry is asked again
        third = finished(side, hook, try_number=3)
        assert (third.job_name, third.reused) == ("JOB_1_T3", False)
        assert loaded(side, third) == rows(v2_scored(changed), ["ID", "SCORE"])
        assert start(side, hook, try_number=4).reused  # nothing changed since try 3

        with side.held_jobs():
            forced = start(side, hook, try_number=4, rescore="always")
            assert (forced.job_name, forced.reused) == ("JOB_1_T4", False)
            hook.cancel_job(forced.job_id)


def test_a_finished_job_reports_what_it_used(side):
    """The batch ``cost`` (XCom, log, run facet) from what the backend reads of a finished job: the local
    job's own wall and CPU seconds; on Snowflake the job's run time and its pool's instance family."""
    side.write_table("INPUT", features(range(4)))
    with side.hook() as hook:
        job = finished(side, hook, try_number=1)
        cost = batch_job_cost(hook.get_job_usage(job.job_id))

    assert cost["reused"] is False and cost["wall_seconds"] > 0
    if side.name == "local":
        assert cost["cpu_seconds"] > 0 and "instance_family" not in cost
    else:
        # GET_JOB_HISTORY's CREATED_TIME to COMPLETED_TIME, and SHOW COMPUTE POOLS' instance_family.
        assert (cost["compute_pool"], cost["instance_family"]) == ("POOL", "CPU_X64_S")
        assert cost["estimated_credits"] is None and "Service Consumption Table" in cost["credits_source"]
