"""The `medimg` command line's grammar: every command, its arguments and help. What each command
does is in medimg/cli.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from medimg.config.variants import BACKENDS, VARIANTS
from medimg.pipeline.steps import STEP_NAMES


def add_params_arguments(parser: argparse.ArgumentParser) -> None:
    """--params FILE and repeatable --set KEY.PATH=VALUE, as every command reading params takes them."""
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: params.yaml)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one param, e.g. --set train.stages[1].epochs=3 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medimg",
        description="Raw medical images to a validated, exported "
        "model. Steps read params.yaml; see README.md.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    params = commands.add_parser("params", help="work with params.yaml")
    params_cmd = params.add_subparsers(dest="params_command", required=True)
    check = params_cmd.add_parser(
        "check", help="validate params.yaml (types, keys, folders) and do nothing else"
    )
    add_params_arguments(check)
    use = params_cmd.add_parser(
        "use",
        help="switch params.yaml to a workload preset (keeps comments and your "
        "other settings); then run `dvc repro`",
        description="Presets: medimg/config/preset_files/*.yaml. `medimg params presets` lists them.",
    )
    use.add_argument("preset", metavar="PRESET")
    use.add_argument(
        "--params", default="params.yaml", help="params file to rewrite (default: params.yaml)"
    )
    params_cmd.add_parser("presets", help="list the workload presets")

    run = commands.add_parser(
        "run",
        help="run one pipeline step with the params (what dvc.yaml calls)",
        description=f"Run one step: {', '.join(STEP_NAMES)}.",
    )
    run.add_argument("step", choices=STEP_NAMES)
    run.add_argument("--stage", help="training stage name from train.stages (train only)")
    run.add_argument(
        "--fresh",
        action="store_true",
        help="train only: start the stage afresh instead of "
        "resuming its last.pt (a stage resumes by default when params, data and weights are unchanged)",
    )
    run.add_argument(
        "--fold",
        type=int,
        help="train only, with split.folds > 1: train this fold alone (0 to folds - 1); the "
        "stage's ensemble is written once every fold is trained",
    )
    add_params_arguments(run)

    ingest = commands.add_parser(
        "ingest",
        help="the ingest step on any folder: a DICOM tree to NIfTI volumes and a Parquet manifest",
        description="Run the ingest step (as `medimg run ingest`) with data.raw_dir=RAW_DIR and its "
        "outputs in OUT_DIR: OUT_DIR/volumes/<series_key>.nii.gz, OUT_DIR/manifest.parquet and the "
        "summary in OUT_DIR/reports (keys are salted pseudonyms). Other settings come from --params.",
    )
    ingest.add_argument("raw_dir", type=Path, metavar="RAW_DIR")
    ingest.add_argument("--out", type=Path, required=True, metavar="OUT_DIR")
    add_params_arguments(ingest)

    plan = commands.add_parser(
        "plan",
        help="fingerprint the ingested data and propose params from it (nnU-Net's planning)",
        description="Read the manifest and volumes ingest wrote, write reports/dataset_fingerprint.json "
        "(spacings, sizes after cropping, foreground intensities, label frequencies, modality, "
        "anisotropy) and reports/plan.json (target spacing, patch and batch size for the plan "
        "section's memory budget, poolings per axis, normalisation, 2D or 3D), and print the params "
        "that differ from the proposal. --write puts them into the params file, comments kept.",
    )
    plan.add_argument("--write", action="store_true", help="write the proposal into --params")
    add_params_arguments(plan)

    edge = commands.add_parser(
        "edge-cases",
        help="write a DICOM tree with one series per real-world defect",
        description="Write OUT_DIR with shuffled names, gantry tilt, a gap, a duplicate "
        "slice, a mixed folder, multi-frame, MONOCHROME1, JPEG 2000, a truncated file, "
        "uneven spacing, an undecodable syntax, a radiograph, an SR and a PNG. Try: medimg "
        "ingest OUT_DIR --out /tmp/edge-out --set data.label_column=case",
    )
    edge.add_argument("out_dir", type=Path, metavar="OUT_DIR")

    predict = commands.add_parser(
        "predict",
        help="run an exported model on a DICOM series, volume or picture",
        description="Apply the exported preprocessing and ONNX model (no torch "
        "needed) to INPUT (a DICOM series folder, a NIfTI volume, or for 2D models a "
        "PNG/JPEG or single DICOM file) and print JSON predictions; segmentation "
        "models write mask_<n>.nii.gz in the input's geometry.",
    )
    predict.add_argument("input", type=Path, metavar="INPUT")
    predict.add_argument("--model", type=Path, default=Path("artifacts"), metavar="ARTIFACTS_DIR")
    predict.add_argument(
        "--out",
        type=Path,
        default=Path("."),
        metavar="OUT_DIR",
        help="where segmentation masks go (default: the current folder)",
    )
    predict.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="runtime: onnxruntime (default) or openvino; picks that runtime's fp32 variant "
        "unless --variant names another",
    )
    predict.add_argument(
        "--variant",
        default=None,
        choices=list(VARIANTS),
        help="which exported model to run (default: the backend's fp32 variant, ort_fp32)",
    )
    predict.add_argument(
        "--send",
        action="store_true",
        help="store the DICOM results (SEG/SR) on the PACS of params.yaml's pacs section "
        "(address from --url, $MEDIMG_PACS_URL or pacs.url; credentials from the environment)",
    )
    predict.add_argument("--url", help="DICOMweb root of the PACS for --send")
    predict.add_argument("--params", default="params.yaml", help="for --send: the pacs section")

    add_pacs_commands(commands)
    add_team_commands(commands)
    return parser


def add_team_commands(commands) -> None:
    """The `team` command group (run by medimg/team/commands.py, imported only then)."""
    team = commands.add_parser(
        "team",
        help="shared PostgreSQL, Prefect and MLflow servers for a team (docs/team.md); "
        "credentials from the environment or .env",
    )
    team_cmd = team.add_subparsers(dest="team_command", required=True)
    team_cmd.add_parser("check", help="log in to the Prefect and MLflow databases: one line each")
    postgres = team_cmd.add_parser(
        "postgres",
        help="make (first time) and start a PostgreSQL cluster in DIR, with both databases",
    )
    postgres.add_argument("dir", type=Path)
    up = team_cmd.add_parser(
        "up", help="run the Prefect and MLflow servers on the shared PostgreSQL until stopped"
    )
    up.add_argument("dir", type=Path, help="where the servers keep logs and Prefect's home")
    up.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: all)")
    up.add_argument("--prefect-port", type=int, default=4200)
    up.add_argument("--mlflow-port", type=int, default=5000)
    up.add_argument(
        "--artifacts",
        required=True,
        help="MLflow's artifact store: a folder every machine mounts, or an object store URI",
    )
    up.add_argument("--work-pool", default="medimg", help="the process work pool to create")


def add_pacs_commands(commands) -> None:
    """The `pacs` command group (run by medimg/pacs/commands.py, imported only then)."""
    pacs = commands.add_parser("pacs", help="talk to a PACS over DICOMweb")
    pacs_cmd = pacs.add_subparsers(dest="pacs_command", required=True)
    pull = pacs_cmd.add_parser(
        "pull",
        help="find studies on the PACS and pull them into data/raw/NAME, then dvc add it",
        description="Query the PACS (QIDO-RS) for studies matching every criterion given (or "
        "pacs.watch.rule when none is), retrieve them (WADO-RS) into INTO/NAME/<study key>/"
        "<series key>/<instance key>.dcm, keys being salted pseudonyms, and `dvc add` the folder. "
        "Studies already pulled are skipped, so a rerun fetches only what is missing.",
    )
    pull.add_argument("name", metavar="NAME", help="dataset folder name under --into")
    pull.add_argument("--into", type=Path, default=Path("data/raw"))
    pull.add_argument(
        "--accession", action="append", default=[], help="an accession number (repeatable)"
    )
    pull.add_argument(
        "--accessions-file", type=Path, help="a text file of accession numbers, one a line"
    )
    pull.add_argument("--modality", help="ModalitiesInStudy, e.g. CT")
    pull.add_argument("--study-date", help="YYYYMMDD or YYYYMMDD-YYYYMMDD")
    pull.add_argument("--description", help="StudyDescription (wildcards * ?)")
    pull.add_argument("--url", help="DICOMweb root (default: $MEDIMG_PACS_URL, then pacs.url)")
    pull.add_argument("--no-dvc-add", action="store_true", help="leave the folder untracked by DVC")
    pull.add_argument("--params", default="params.yaml")
    send = pacs_cmd.add_parser(
        "send",
        help="store DICOM files (or every .dcm under folders) on the PACS, each once",
        description="STOW-RS every file given, skipping those the PACS already holds: how a "
        "scanner's series or a saved SEG/SR reaches the PACS.",
    )
    send.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    send.add_argument("--url", help="DICOMweb root (default: $MEDIMG_PACS_URL, then pacs.url)")
    send.add_argument("--params", default="params.yaml")
