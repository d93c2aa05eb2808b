"""Grouping, ordering and the fix-or-quarantine geometry decisions, on headers built in memory."""

from dataclasses import replace

import pytest

from medimg.config.schema import GeometryPolicy
from medimg.ingest.dicom.headers import SliceHeader
from medimg.ingest.dicom.series import decide_geometry, group_series

BASE = SliceHeader(
    path="",
    frame=None,
    sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
    modality="CT",
    patient_id="p",
    study_uid="st",
    series_uid="se",
    instance_uid="",
    position=None,
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    pixel_spacing=(1.0, 1.0),
    rows=8,
    columns=8,
    image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
    manufacturer="",
    echo="",
    acquisition="1",
    stack="",
    transfer_syntax="1.2.840.10008.1.2.1",
    photometric="MONOCHROME2",
    samples=1,
    slope=1.0,
    intercept=0.0,
    bits_stored=12,
    gantry_tilt=0.0,
    native_pixels=None,
    is_picture=False,
)


def stack(z_values):
    return [replace(BASE, path=f"f{i:03d}", position=(0.0, 0.0, z)) for i, z in enumerate(z_values)]


def plan_of(headers):
    plans = group_series(headers)
    assert len(plans) == 1
    return plans[0]


FIX = GeometryPolicy(
    missing_slices="fix",
    nonuniform_spacing="fix",
    duplicate_positions="fix",
    gantry_tilt="fix",
    single_slice="fix",
)
QUARANTINE = GeometryPolicy(
    missing_slices="quarantine",
    nonuniform_spacing="quarantine",
    duplicate_positions="quarantine",
    gantry_tilt="quarantine",
    single_slice="quarantine",
)


def test_slices_are_ordered_along_the_normal_not_by_name():
    headers = stack([9.0, 0.0, 3.0, 6.0])
    assert [h.position[2] for h in plan_of(headers).slices] == [0.0, 3.0, 6.0, 9.0]
    flipped = [
        replace(h, orientation=(1.0, 0.0, 0.0, 0.0, -1.0, 0.0)) for h in headers
    ]  # normal points to -z
    assert [h.position[2] for h in plan_of(flipped).slices] == [9.0, 6.0, 3.0, 0.0]


def test_orientation_localizer_echo_and_repeated_acquisitions_split_a_series():
    axial = stack([0.0, 3.0, 6.0])
    other = [replace(h, orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0)) for h in stack([0.0, 3.0])]
    localizer = [
        replace(
            BASE,
            path="loc",
            position=(0.0, 0.0, 0.0),
            image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
        )
    ]
    echo2 = [replace(h, echo="2") for h in stack([0.0, 3.0])]
    repeat = [replace(h, acquisition="2") for h in stack([0.0, 3.0, 6.0])]
    plans = group_series(axial + other + localizer + echo2 + repeat)
    assert sorted(len(p.slices) for p in plans) == [1, 2, 2, 3, 3]
    assert len({p.split_key for p in plans}) == 5


def test_a_different_matrix_size_inside_one_stack_quarantines_instead_of_splitting():
    headers = stack([0.0, 3.0, 6.0, 9.0])
    headers[2] = replace(headers[2], rows=16, columns=16)
    plan = plan_of(headers)  # one plan: the odd slice is damage, not a second stack
    decision = decide_geometry(plan, FIX)
    assert decision.problem.code == "inconsistent_size" and "16" in decision.problem.reason


def test_one_acquisition_number_per_slice_does_not_split():
    headers = [replace(h, acquisition=str(i)) for i, h in enumerate(stack([0.0, 3.0, 6.0, 9.0]))]
    assert len(plan_of(headers).slices) == 4


@pytest.mark.parametrize(
    "defect, z_values, code",
    [
        ("missing_slices", [0.0, 3.0, 6.0, 12.0, 15.0], "missing_slices"),
        ("nonuniform_spacing", [0.0, 3.0, 6.6, 9.0, 12.0], "nonuniform_spacing"),
        ("duplicate_positions", [0.0, 3.0, 3.0, 6.0, 9.0], "duplicate_positions"),
        ("single_slice", [0.0], "single_slice"),
    ],
)
def test_each_defect_is_fixed_or_quarantined_as_the_params_say(defect, z_values, code):
    plan = plan_of(stack(z_values))
    quarantined = decide_geometry(plan, QUARANTINE)
    assert quarantined.problem.code == code and quarantined.problem.reason
    fixed = decide_geometry(plan, FIX)
    assert fixed.problem is None and code in fixed.fixes and fixed.notes


def test_fixes_choose_the_grid():
    assert decide_geometry(plan_of(stack([0.0, 3.0, 6.0, 12.0])), FIX).spacing == 3.0
    assert len(decide_geometry(plan_of(stack([0.0, 3.0, 3.0, 6.0])), FIX).slices) == 3
    assert decide_geometry(plan_of(stack([0.0])), FIX).as_picture
    clean = decide_geometry(plan_of(stack([0.0, 3.0, 6.0])), QUARANTINE)
    assert (
        clean.problem is None
        and clean.fixes == ()
        and clean.spacing is None
        and not clean.fix_drift
    )


def test_tilt_is_detected_from_positions():
    tilted = [replace(h, position=(0.0, 0.5 * i, 3.0 * i)) for i, h in enumerate(stack([0.0] * 4))]
    assert decide_geometry(plan_of(tilted), QUARANTINE).problem.code == "gantry_tilt"
    assert decide_geometry(plan_of(tilted), FIX).fix_drift


@pytest.mark.parametrize(
    "change, code",
    [
        ({"position": None}, "missing_geometry"),
        ({"pixel_spacing": (0.0, 1.0)}, "bad_pixel_spacing"),
        ({"samples": 3}, "color_volume"),
    ],
)
def test_unfixable_geometry_is_always_quarantined(change, code):
    plan = plan_of([replace(h, **change) for h in stack([0.0, 3.0, 6.0])])
    assert decide_geometry(plan, FIX).problem.code == code


def test_spacing_that_changes_in_zones_is_resampled_even_where_missing_slices_quarantine():
    z_values = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 9.0, 13.0, 17.0, 21.0, 25.0]  # 1 mm, then 4 mm
    policy = QUARANTINE.model_copy(update={"nonuniform_spacing": "fix"})
    decision = decide_geometry(plan_of(stack(z_values)), policy)
    assert decision.problem is None and decision.fixes == ("nonuniform_spacing",)
    assert "1.00 mm x 5, 4.00 mm x 5" in decision.notes[0]
    gap = decide_geometry(plan_of(stack([0.0, 3.0, 6.0, 12.0, 15.0, 18.0])), QUARANTINE)
    assert gap.problem.code == "missing_slices" and "(1 slice(s) missing)" in gap.problem.reason
