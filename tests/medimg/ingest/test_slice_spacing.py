"""classify_spacing: a regular stack with gaps (missing slices) is told apart from spacing that changes."""

import numpy as np
import pytest

from medimg.ingest.dicom.spacing import classify_spacing, spacing_zones


def steps_of(*zones: tuple[float, int]) -> np.ndarray:
    return np.concatenate([np.full(count, spacing) for spacing, count in zones])


def test_a_uniform_stack_is_uniform_even_with_rounding_in_positions():
    verdict = classify_spacing(np.array([3.0, 3.001, 2.999, 3.0]))
    assert verdict.kind == "uniform" and verdict.spacing == pytest.approx(3.0, abs=1e-3)


def test_one_gap_counts_the_slices_really_missing():
    verdict = classify_spacing(steps_of((2.5, 10), (7.5, 1), (2.5, 10)))
    assert (verdict.kind, verdict.missing, verdict.spacing) == ("missing_slices", 2, 2.5)
    assert (
        "1 gap(s) of 7.50 mm in a stack spaced 2.50 mm (2 slice(s) missing)" in verdict.description
    )


def test_two_gaps_of_different_widths_add_up():
    verdict = classify_spacing(steps_of((3.0, 5), (6.0, 1), (3.0, 5), (9.0, 1), (3.0, 5)))
    assert verdict.kind == "missing_slices" and verdict.missing == 1 + 2


def test_a_head_ct_whose_spacing_changes_in_zones_is_nonuniform_not_missing_slices():
    # as the GE head CT in dcm_qa_ct: 1 mm through the skull base, then wider zones. The median
    # (4 mm) made every 7 mm step look like a gap: "about 13 slice(s) missing" was wrong.
    steps = steps_of((1.08, 10), (4.0, 14), (6.99, 13))
    verdict = classify_spacing(steps)
    assert verdict.kind == "nonuniform_spacing" and verdict.missing == 0
    assert "1.08 mm x 10, 4.00 mm x 14, 6.99 mm x 13 steps" in verdict.description
    assert "missing" not in verdict.description


def test_a_zone_at_twice_the_spacing_is_a_zone_not_a_run_of_gaps():
    verdict = classify_spacing(steps_of((2.5, 12), (5.0, 12)))
    assert (
        verdict.kind == "nonuniform_spacing" and "2.50 mm x 12, 5.00 mm x 12" in verdict.description
    )


def test_jitter_from_slice_to_slice_is_nonuniform_with_its_range():
    verdict = classify_spacing(np.array([6.0, 4.0, 5.0, 6.0, 4.0, 5.0]))
    assert verdict.kind == "nonuniform_spacing"
    assert "varies 4.00-6.00 mm from slice to slice (median 5.00 mm)" in verdict.description


def test_zones_are_runs_of_agreeing_steps():
    assert spacing_zones(steps_of((1.0, 3), (2.0, 2))) == [(1.0, 3), (2.0, 2)]
