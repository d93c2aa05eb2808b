"""A predicted label map as a DICOM Segmentation object (highdicom), one frame per source slice."""

from __future__ import annotations

import numpy as np
import pydicom

from medimg.deploy.bundle import Bundle
from medimg.deploy.dicom_results import (
    Algorithm,
    class_codes,
    coded,
    quiet_about_sources,
    result_identity,
)

SERIES_NUMBER = 9100  # high, so viewers list the result after the source series


def segmentation_object(
    sources: list[pydicom.Dataset], labels: np.ndarray, spec: Bundle, algorithm: Algorithm
) -> pydicom.Dataset:
    """A binary DICOM SEG of ``labels`` (slices, rows, columns: 0 background, k class k), whose
    frame i lies on ``sources[i]``. It references the source series and its frame of reference,
    has one segment per non-background class with its codes, and names the algorithm."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    if labels.shape != (len(sources), int(sources[0].Rows), int(sources[0].Columns)):
        raise ValueError(
            f"label map {labels.shape} does not match {len(sources)} source slices of "
            f"{sources[0].Rows}x{sources[0].Columns}"
        )
    identification = hd.AlgorithmIdentificationSequence(
        name=algorithm.name, family=codes.DCM.ArtificialIntelligence, version=algorithm.version
    )
    coding = class_codes(spec)
    segments = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=name[:64],
            segmented_property_category=coded(coding[name]["category"]),
            segmented_property_type=coded(coding[name]["type"]),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=identification,
        )
        for number, name in enumerate(spec.class_names[1:], start=1)
    ]
    with quiet_about_sources():
        return hd.seg.Segmentation(
            source_images=sources,
            pixel_array=labels.astype(np.uint8),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=segments,
            **result_identity("seg", sources, algorithm, SERIES_NUMBER),
            manufacturer_model_name=algorithm.name[:64],
            software_versions=algorithm.software,
            device_serial_number=algorithm.version[:64],
            content_label="MEDIMG",
            content_description=f"{algorithm.name} {algorithm.version}"[:64],
            omit_empty_frames=False,  # a frame on every source slice, empty or not
        )
