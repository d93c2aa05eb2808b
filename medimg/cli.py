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

from medimg.cli_parser import build_parser
from medimg.config.schema import ParamsError
from medimg.config.variants import VARIANTS, default_variant
from medimg.io.problems import InputError
from medimg.pipeline.checks import check_dvc_train_stages, load_checked_params
from medimg.pipeline.steps import step

EXIT_BAD_PARAMS, EXIT_BAD_INPUT = 2, 1


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
        if args.command == "team":
            from medimg.team.commands import run_team_command

            return run_team_command(args)
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
