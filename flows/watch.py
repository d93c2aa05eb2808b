"""The PACS watcher: `python -m flows.watch` polls once; `python -m flows.serve --watch` serves it
every ``pacs.watch.poll_s`` seconds beside scheduled retraining.

It runs the champion: the version behind the MLflow alias ``champion`` (promote moves it), fetched
once per version; ``pacs.watch.bundle`` may name a bundle folder instead. Each poll asks the PACS for the studies matching ``pacs.watch.rule``, skips those the ledger marks
done (or failed ``max_attempts`` times), and answers each other one in its own Prefect task with
retries: pull it, run the bundle, store the SEG/SR back. The ledger marks a study done only after
its results are stored, and results carry UIDs derived from the series and the model, so:

- a crash before the store leaves the study not done: the next poll answers it (nothing is lost);
- a crash after the store but before the ledger write makes the next poll find the results already
  on the PACS and store nothing (no duplicate).

Studies appear in logs, artifacts and the ledger by pseudonym only (the ingest salt's HMAC).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from medimg.cli_parser import add_params_arguments
from medimg.config.schema import ParamsError
from medimg.ingest import deid
from medimg.pacs.connection import connect, server_from_params
from medimg.pacs.ledger import Ledger
from medimg.pacs.query import find_studies
from medimg.pacs.watch import StudyFailed, answer_study, watch_bundle
from medimg.pipeline.checks import load_checked_params
from medimg.tracking.runs import tracking_uri

ARTIFACT_KEY = "medimg-pacs-watch"


@task(name="answer-study", cache_policy=NO_CACHE, persist_result=False)
def answer_study_task(
    client, study_uid: str, key: str, bundle: Path, variant: str, workdir: Path, salt: bytes
) -> dict:
    return answer_study(client, study_uid, key, bundle, variant, workdir, salt)


@flow(name="medimg-pacs-watch", log_prints=True)
def watch_pacs(
    params_file: str = "params.yaml", root: str = ".", overrides: list[str] | None = None
) -> dict:
    """One poll: answer every new study on the PACS that matches the rule."""
    params = load_checked_params(params_file, overrides, root)
    watch, base = params.pacs.watch, Path(root)
    client = connect(server_from_params(params.pacs))
    salt = deid.load_salt(params.ingest.salt_env, base / params.ingest.salt_file)
    ledger = Ledger(base / watch.ledger)
    bundle = watch_bundle(
        watch.bundle, base, tracking_uri(params.tracking), params.tracking.registered_model
    )
    answer = answer_study_task.with_options(
        retries=params.orchestration.retries,
        retry_delay_seconds=params.orchestration.retry_delay_s,
    )
    rows = []
    for study_uid in find_studies(client, watch.rule):
        key = deid.pseudonym(salt, "study", study_uid)
        if ledger.settled(key, watch.max_attempts):
            continue
        ledger.start(key)
        try:
            summary = answer.with_options(task_run_name=f"answer-{key}")(
                client,
                study_uid,
                key,
                bundle,
                watch.variant,
                base / watch.workdir,
                salt,
            )
        except StudyFailed as exc:
            ledger.failed(key, str(exc))
            rows.append({"study": key, "state": "failed", "detail": str(exc)})
            print(f"{exc}; the next poll tries again")
            continue
        ledger.done(key, summary)
        rows.append({"study": key, "state": "done", "detail": ", ".join(summary["results"])})
        print(f"study {key}: {summary['series']} series answered ({', '.join(summary['results'])})")
    counts = ledger.counts()
    create_table_artifact(
        rows or [{"study": "-", "state": "no new study", "detail": ""}],
        key=ARTIFACT_KEY,
        description=f"this poll's studies, by pseudonym; ledger totals {counts}",
    )
    return {"answered": rows, "ledger": counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Poll the PACS once and answer its new studies.")
    add_params_arguments(parser)  # e.g. --set pacs.watch.bundle=artifacts
    args = parser.parse_args(argv)
    try:
        load_checked_params(args.params, args.overrides, ".")
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = watch_pacs(args.params, ".", args.overrides, return_state=True)
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(main())
