"""`medimg pacs pull|send` and predict's `--send`: the command-line side of talking to a PACS.

Kept out of medimg/cli.py so the CLI stays one screen of wiring; the CLI imports this module only
when a PACS command runs, so the pipeline's stages do not depend on it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medimg.pacs.connection import PacsError


def run_pacs_command(args: argparse.Namespace) -> dict:
    return send_paths(args) if args.pacs_command == "send" else pull(args)


def pacs_settings(args: argparse.Namespace):
    """The params' pacs and ingest sections; their defaults where there is no params file."""
    from medimg.config.loading import load_params
    from medimg.config.schema import IngestParams, PacsParams

    if Path(args.params).exists():
        params = load_params(args.params)
        return params.pacs, params.ingest
    return PacsParams(), IngestParams()


def pacs_server(args: argparse.Namespace):
    from medimg.pacs.connection import server_from_params

    return server_from_params(pacs_settings(args)[0], args.url)


def store_files(server, files: list[Path]) -> list[dict]:
    from medimg.pacs.connection import connect, describe_failure
    from medimg.pacs.send import send_results

    try:
        return send_results(connect(server), files)
    except Exception as exc:
        raise PacsError(f"sending to {server.url} failed: {describe_failure(exc)}") from None


def send_predictions(server, results: list[dict]) -> None:
    """Store each result's DICOM file on the PACS and note the outcome in the result."""
    files = [Path(r["dicom"]) for r in results if "dicom" in r]
    if not files:
        raise PacsError("--send: this input gave no DICOM result (only DICOM input does)")
    sent = store_files(server, files)
    for result, outcome in zip((r for r in results if "dicom" in r), sent):
        result["sent"] = outcome["status"]


def send_paths(args: argparse.Namespace) -> dict:
    files = sorted({f for p in args.paths for f in ([p] if p.is_file() else p.rglob("*.dcm"))})
    if not files:
        raise PacsError(f"nothing to send: no .dcm file in {[str(p) for p in args.paths]}")
    sent = store_files(pacs_server(args), files)
    counts: dict[str, int] = {}
    for outcome in sent:
        counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
    return {"files": len(files), **counts}


def pull(args: argparse.Namespace) -> dict:
    import subprocess

    from medimg.config.pacs import RetrieveRule
    from medimg.ingest import deid
    from medimg.pacs.connection import (
        connect,
        describe_failure,
        is_http_failure,
        server_from_params,
    )
    from medimg.pacs.query import find_studies
    from medimg.pacs.retrieve import pull_studies

    pacs_params, ingest = pacs_settings(args)
    accessions = list(args.accession)
    if args.accessions_file:
        accessions += [
            a.strip() for a in args.accessions_file.read_text().splitlines() if a.strip()
        ]
    asked = dict(
        modality=args.modality,
        study_date=args.study_date,
        study_description=args.description,
        accession_numbers=accessions,
    )
    rule = (
        RetrieveRule(**asked)
        if any(asked.values())
        else pacs_params.watch.rule  # no criterion given: the watcher's rule
    )
    server = server_from_params(pacs_params, args.url)
    salt = deid.load_salt(ingest.salt_env, ingest.salt_file)
    target = args.into / args.name
    try:
        client = connect(server)
        studies = find_studies(client, rule)
        records = pull_studies(client, studies, target, salt)
    except OSError as exc:
        if not is_http_failure(exc):  # a full disk, not the PACS: the storage message says so
            raise
        raise PacsError(f"pulling from {server.url} failed: {describe_failure(exc)}") from None
    except ValueError as exc:  # what the server sent is unusable (the message names pseudonyms)
        raise PacsError(f"pulling from {server.url} failed: {exc}") from None
    tracked = None
    if records and not args.no_dvc_add:
        done = subprocess.run(["dvc", "add", str(target)], capture_output=True, text=True)
        if done.returncode:
            raise PacsError(f"dvc add {target} failed: {done.stderr.strip()[-400:]}")
        tracked = f"{target}.dvc"
    return {"folder": str(target), "studies": records, "dvc": tracked}
