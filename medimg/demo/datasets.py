"""The bundled demo datasets, each generated deterministically from a seed into its folder:
ct-nodule (chest-CT DICOM series with nodule labels and masks), fundus-dr (graded fundus photos) and
skin-lesion (dermoscopy-like photos with masks). Identities are fake but DICOM-real, so the demo
exercises de-identification."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import SimpleITK as sitk
from pydicom.uid import generate_uid
from tqdm import tqdm

from medimg.config.loading import DEMO_DATASETS
from medimg.config.schema import CtNoduleDemo, DemoParams, FundusDemo, SkinLesionDemo
from medimg.demo.ct_phantom import PhantomGeometry, make_chest_ct
from medimg.demo.dicom_series import PatientIdentity, StudyInfo, write_ct_series
from medimg.demo.fundus import make_fundus
from medimg.demo.skin import make_skin_lesion
from medimg.io import atomic

FIRST = [
    "JANE",
    "JOHN",
    "MARIA",
    "AHMED",
    "WEI",
    "OLGA",
    "PEDRO",
    "AISHA",
    "KENJI",
    "FATIMA",
    "LIAM",
    "SOFIA",
]
LAST = [
    "DOE",
    "SMITH",
    "GARCIA",
    "KHAN",
    "CHEN",
    "IVANOVA",
    "SILVA",
    "OKAFOR",
    "TANAKA",
    "MULLER",
    "NOVAK",
]
MANUFACTURERS = ["SIEMENS", "GE MEDICAL SYSTEMS", "Philips", "TOSHIBA"]


def fake_patient(rng: np.random.Generator, index: int) -> PatientIdentity:
    year, month, day = rng.integers(1940, 1995), rng.integers(1, 13), rng.integers(1, 29)
    return PatientIdentity(
        name=f"{LAST[rng.integers(len(LAST))]}^{FIRST[rng.integers(len(FIRST))]}^{index:03d}",
        patient_id=f"MRN{rng.integers(10**6, 10**7)}",
        birth_date=f"{year:04d}{month:02d}{day:02d}",
        sex=str(rng.choice(["F", "M"])),
    )


def _random_name(rng: np.random.Generator, suffix_chance: float = 0.5) -> str:
    """Opaque file names that reveal neither slice order nor identity; some lack '.dcm'."""
    name = "".join(rng.choice(list("0123456789ABCDEF"), size=10))
    return name + (".dcm" if rng.random() < suffix_chance else "")


def generate_ct_nodule(cfg: CtNoduleDemo, seed: int, out: Path) -> dict:
    """Write ``cfg.series`` CT series from ``cfg.patients`` patients, labels.csv and one mask each."""
    rng = np.random.default_rng(seed)
    build = atomic.fresh_build_dir(out)
    (build / "masks").mkdir()
    owners = list(range(cfg.patients)) + list(
        rng.choice(cfg.patients, cfg.series - cfg.patients, replace=False)
    )
    positives = set(
        rng.permutation(cfg.series)[: round(cfg.series * cfg.positive_fraction)].tolist()
    )
    patients = [fake_patient(rng, i) for i in range(cfg.patients)]
    patient_dirs = [_random_name(rng, 0.0) for _ in range(cfg.patients)]
    rows = []
    for s, owner in enumerate(tqdm(owners, desc="demo ct-nodule", unit="series")):
        geometry = PhantomGeometry(
            slices=int(rng.integers(cfg.slices.min, cfg.slices.max + 1)),
            matrix=cfg.matrix,
            pixel_spacing_mm=round(
                float(rng.uniform(cfg.pixel_spacing_mm.min, cfg.pixel_spacing_mm.max)), 3
            ),
            slice_spacing_mm=round(
                float(rng.uniform(cfg.slice_spacing_mm.min, cfg.slice_spacing_mm.max)), 2
            ),
        )
        diameter = (
            rng.uniform(cfg.nodule_diameter_mm.min, cfg.nodule_diameter_mm.max)
            if s in positives
            else None
        )
        hu, mask = make_chest_ct(rng, geometry, diameter)
        entropy = f"demo-{seed}-{s}"
        study = StudyInfo(
            study_uid=generate_uid(entropy_srcs=[entropy, "study"]),
            accession_number=f"ACC{rng.integers(10**7, 10**8)}",
            study_date=f"20{rng.integers(18, 26):02d}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}",
            institution="St. Elsewhere General Hospital",
            manufacturer=MANUFACTURERS[rng.integers(len(MANUFACTURERS))],
        )
        series_uid = generate_uid(entropy_srcs=[entropy, "series"])
        folder = build / patient_dirs[owner] / _random_name(rng, 0.0)
        folder.mkdir(parents=True)
        files = [folder / _random_name(rng) for _ in range(geometry.slices)]
        write_ct_series(
            hu,
            geometry.pixel_spacing_mm,
            geometry.slice_spacing_mm,
            patients[owner],
            study,
            series_uid,
            files,
            entropy,
        )
        mask_name = f"masks/mask_{s:04d}.nii.gz"
        sitk.WriteImage(_mask_image(mask, geometry), str(build / mask_name), useCompression=True)
        rows.append(
            {
                "patient_id": patients[owner].patient_id,
                "series_instance_uid": series_uid,
                "nodule": int(s in positives),
                "nodule_diameter_mm": round(diameter or 0.0, 1),
                "mask": mask_name,
            }
        )
    _write_csv(build / "labels.csv", rows)
    atomic.replace_dir(build, out)
    return {"series": len(rows), "patients": cfg.patients, "positives": len(positives)}


def _mask_image(mask: np.ndarray, geometry: PhantomGeometry) -> sitk.Image:
    """The mask in the series' own geometry (same origin, spacing and axes as the DICOM writer)."""
    image = sitk.GetImageFromArray(mask)
    image.SetSpacing(
        (geometry.pixel_spacing_mm, geometry.pixel_spacing_mm, geometry.slice_spacing_mm)
    )
    half = [(geometry.matrix - 1) / 2 * geometry.pixel_spacing_mm] * 2
    image.SetOrigin(
        (
            round(-half[0], 4),
            round(-half[1], 4),
            round(-(geometry.slices - 1) / 2 * geometry.slice_spacing_mm, 4),
        )
    )
    return image


def generate_fundus_dr(cfg: FundusDemo, seed: int, out: Path) -> dict:
    """Two eyes per patient as PNG, graded 0-4 with a skewed distribution like screening data."""
    rng = np.random.default_rng(seed + 1)
    build = atomic.fresh_build_dir(out)
    (build / "images").mkdir()
    rows = []
    for _p in tqdm(range(cfg.patients), desc="demo fundus-dr", unit="patient"):
        patient_id = f"MRN{rng.integers(10**6, 10**7)}"
        for eye in ("left", "right"):
            grade = int(rng.choice(5, p=[0.4, 0.2, 0.2, 0.1, 0.1]))
            name = f"images/{_random_name(rng, 0.0)}.png"
            rgb = make_fundus(rng, cfg.size, grade)
            cv2.imwrite(str(build / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            rows.append({"image": name, "patient_id": patient_id, "eye": eye, "grade": grade})
    _write_csv(build / "labels.csv", rows)
    atomic.replace_dir(build, out)
    return {"images": len(rows), "patients": cfg.patients}


def generate_skin_lesion(cfg: SkinLesionDemo, seed: int, out: Path) -> dict:
    """Dermoscopy-like JPEG photos and PNG lesion masks of the same stem, as ISIC ships them."""
    rng = np.random.default_rng(seed + 2)
    build = atomic.fresh_build_dir(out)
    (build / "images").mkdir()
    (build / "masks").mkdir()
    rows = []
    for _p in tqdm(range(cfg.patients), desc="demo skin-lesion", unit="patient"):
        patient_id = f"MRN{rng.integers(10**6, 10**7)}"
        for _photo in range(cfg.photos_per_patient):
            stem = _random_name(rng, 0.0)
            rgb, mask = make_skin_lesion(rng, cfg.size)
            cv2.imwrite(
                str(build / f"images/{stem}.jpg"),
                cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 92],
            )
            cv2.imwrite(str(build / f"masks/{stem}.png"), mask * 255)
            rows.append(
                {
                    "image": f"images/{stem}.jpg",
                    "mask": f"masks/{stem}.png",
                    "patient_id": patient_id,
                    "lesion": 1,
                }
            )
    _write_csv(build / "labels.csv", rows)
    atomic.replace_dir(build, out)
    return {"images": len(rows), "patients": cfg.patients}


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


# each dataset's generator, by the folder it fills (medimg.config.loading.DEMO_DATASETS names them)
GENERATORS = {
    "ct-nodule": lambda spec, out: generate_ct_nodule(spec.ct_nodule, spec.seed, out),
    "fundus-dr": lambda spec, out: generate_fundus_dr(spec.fundus_dr, spec.seed, out),
    "skin-lesion": lambda spec, out: generate_skin_lesion(spec.skin_lesion, spec.seed, out),
}


def generate_demo_datasets(spec: DemoParams, out: Path) -> dict:
    """Every demo dataset under ``out``, deterministically from ``spec.seed``; what each holds."""
    return {name: GENERATORS[name](spec, out / name) for name in DEMO_DATASETS}
