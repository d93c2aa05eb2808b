"""The `medimg` command: what dvc.yaml calls, and what a user runs by hand.

Params are validated before anything heavy is imported, so a bad params.yaml fails in well under a
second. Input a user can fix (``InputError``: a missing file, a bad bundle, an unknown key) prints one
clear message and exits non-zero; any other exception is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time
from pathlib import Path

from medimg.config.schema import ParamsError
from medimg.config.variants import BACKENDS, VARIANTS, default_variant
from medimg.io.problems import InputError
from medimg.pipeline.checks import check_dvc_train_stages, load_checked_params
from medimg.pipeline.steps import STEP_NAMES, step

EXIT_BAD_PARAMS, EXIT_BAD_INPUT = 2, 1


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
    return parser


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


def chosen_variant(backend: str | None, variant: str | None) -> str:
    """The variant ``--backend`` and ``--variant`` ask for; an InputError if they disagree."""
    if variant is None:
        return default_variant(backend or "onnxruntime")
    if backend is not None and VARIANTS[variant].backend != backend:
        raise InputError(
            f"--variant {variant} runs on {VARIANTS[variant].backend}, not --backend {backend}"
        )
    return variant


def _load_checked(args: argparse.Namespace, step: str | None = None):
    return load_checked_params(args.params, args.overrides, step=step)


def _run_step(args: argparse.Namespace) -> dict:
    params = _load_checked(args, args.step)
    if args.step == "train" and not args.stage:
        raise ParamsError("medimg run train needs --stage NAME (one of train.stages)")
    if args.stage:
        params.train.stage(args.stage)  # unknown stage names fail before any work
    from medimg.config.paths import ProjectPaths

    run = step(args.step).load()
    paths = ProjectPaths.from_params(params)
    return (
        run(params, paths, args.stage, fresh=args.fresh, fold=args.fold)
        if args.step == "train"
        else run(params, paths)
    )


def _ingest(args: argparse.Namespace) -> dict:
    """`medimg ingest RAW --out OUT` is the ingest step with its folders overridden: the same manifest,
    quarantine and reports (under OUT/reports) as `medimg run ingest`."""
    out = args.out.resolve()
    args.step, args.stage, args.fresh, args.fold = "ingest", None, False, None
    args.overrides = [
        *args.overrides,
        f"data.raw_dir={args.raw_dir.resolve()}",
        f"data.interim_dir={out}",
        f"data.reports_dir={out / 'reports'}",
    ]
    return _run_step(args)


def _plan_command(args: argparse.Namespace) -> int:
    from medimg.config.paths import ProjectPaths
    from medimg.plan.planning import plan_dataset
    from medimg.plan.proposal import params_diff, proposed_params

    params = _load_checked(args)
    paths = ProjectPaths.from_params(params)
    fingerprint, plan = plan_dataset(params, paths)
    proposal = proposed_params(plan, params)
    changes = params_diff(proposal, params)
    print(
        f"{fingerprint['cases']} {fingerprint['modality']} cases, median spacing "
        f"{fingerprint['spacing']['median']} mm, anisotropy {fingerprint['anisotropy']}: a "
        f"{plan['configuration']} plan, patch {plan['patch_size']} x batch {plan['batch_size']} "
        f"({plan['memory_gb']} of {plan['budget_gb']:g} GB), poolings {plan['poolings_per_axis']} "
        f"(details: {paths.plan})"
    )
    if params.plan.use == "auto":
        from medimg.plan.applying import planned_values

        taken = planned_values(plan, params)
        print(f"plan: auto: the later steps take {', '.join(taken) or 'nothing'} from the plan")
    print("\n".join(changes) if changes else f"{args.params} already follows the plan")
    if args.write and changes:
        from medimg.config.presets import write_values

        write_values(Path(args.params), proposal, "the plan")
        print(f"{args.params}: written; run `dvc repro`")
    return 0


def _params_command(args: argparse.Namespace) -> int:
    from medimg.config import presets as params_presets

    if args.params_command == "presets":
        for name in params_presets.preset_names():
            print(f"{name:<16} {params_presets.preset_description(name)}")
        return 0
    if args.params_command == "use":
        params = params_presets.use_preset(args.preset, Path(args.params))
        problems = check_dvc_train_stages(params, Path(args.params).parent)
        print(
            f"{args.params}: now preset {args.preset} ({params.model.name} on {params.data.raw_dir})"
            + ("; " + "; ".join(problems) if problems else "; run `dvc repro`")
        )
        return 0
    _load_checked(args)
    print(f"{args.params}: OK")
    return 0


STORAGE_HINTS = {
    errno.ENOSPC: "no space left on the disk",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file larger than the system allows (quota or file size limit)",
    errno.EROFS: "the folder is on a read-only file system",
    errno.EACCES: "permission denied",
}


def storage_problem(exc: OSError) -> str:
    """One line for a failed read or write: which file, and why in words a user can act on."""
    where = exc.filename or "an output file"
    why = STORAGE_HINTS.get(exc.errno, exc.strerror or type(exc).__name__)
    return (
        f"cannot write or read {where}: {why}. Every output is written to a temp file and renamed, "
        "so the previous outputs are unchanged; fix the storage and rerun the step"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tic = time.perf_counter()
    try:
        if args.command == "params":
            return _params_command(args)
        if args.command == "plan":
            return _plan_command(args)
        if args.command == "predict":
            from medimg.deploy.predict import predict

            variant = chosen_variant(args.backend, args.variant)
            from medimg.pacs.commands import pacs_server, send_predictions

            server = pacs_server(args) if args.send else None  # bad settings fail before work
            results = predict(args.input, args.model, args.out, variant)
            if server is not None:
                send_predictions(server, results)
            print(json.dumps(results, indent=2))
            return 0
        if args.command == "pacs":
            from medimg.pacs.commands import run_pacs_command

            print(json.dumps(run_pacs_command(args), indent=2))
            return 0
        if args.command == "edge-cases":
            from medimg.demo.edge_cases import CASES, write_edge_cases

            write_edge_cases(args.out_dir)
            print(
                "\n".join(
                    f"case {c.label:>2} {c.name:<20} expect {c.status} {c.code}" for c in CASES
                )
            )
            return 0
        result = _run_step(args) if args.command == "run" else _ingest(args)
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_PARAMS
    except InputError as exc:  # only input a user can fix; a bug keeps its traceback
        if os.environ.get("MEDIMG_DEBUG"):
            raise
        print(f"error: {exc}  (set MEDIMG_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (
        OSError
    ) as exc:  # disk full, read-only folder, no permission: the step stops, outputs stay
        if os.environ.get("MEDIMG_DEBUG"):
            raise
        print(
            f"error: {storage_problem(exc)}  (set MEDIMG_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    label = f"{args.step}{' ' + args.stage if args.stage else ''}"
    if args.step == "export":  # the whole report is hundreds of lines: point to it instead
        from medimg.export.registration import REPORT_FILE
        from medimg.export.report import export_summary

        print(export_summary(result, Path(result["model"]).parent / REPORT_FILE))
    else:
        print(json.dumps(result, indent=2, default=str))
    if args.step == "ingest":
        from medimg.ingest.tree import format_summary

        print(format_summary(result.get("summary", result)), file=sys.stderr)
    print(f"medimg {label}: done in {time.perf_counter() - tic:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
