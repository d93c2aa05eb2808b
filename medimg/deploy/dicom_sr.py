"""A classification as a DICOM Structured Report: a TID 1500 Measurement Report (highdicom's
Comprehensive 3D SR) with one measurement group stating the finding, its calibrated probability,
the operating threshold and the decision, made by the named model on the referenced series."""

from __future__ import annotations

import pydicom

from medimg.deploy.bundle import Bundle
from medimg.deploy.dicom_results import (
    PRIVATE_SCHEME,
    Algorithm,
    class_codes,
    coded,
    quiet_about_sources,
    result_identity,
    result_uid,
)

SERIES_NUMBER = 9200
DECISION = (PRIVATE_SCHEME, "DECISION", "Classification decision")  # a multi-class model's answer


def classification_report(
    sources: list[pydicom.Dataset],
    probabilities: dict[str, float],
    prediction: str,
    threshold: float | None,
    spec: Bundle,
    algorithm: Algorithm,
) -> pydicom.Dataset:
    """The SR of one prediction on the series of ``sources``.

    Binary models: the positive class is the finding, evaluated Present or Absent, with its
    probability and the threshold it was compared with. Graded models: the predicted grade and its
    probability (no threshold: the largest probability decides).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    names = spec.class_names
    coding = class_codes(spec)
    unitless = hd.sr.CodedConcept("1", "UCUM", "no units")
    series_uid = sources[0].SeriesInstanceUID
    if len(names) == 2:
        finding = coded(coding[names[1]]["type"])
        verdict = hd.sr.QualitativeEvaluation(
            finding, codes.SCT.Present if prediction == names[1] else codes.SCT.Absent
        )
        shown = names[1]
    else:
        finding = hd.sr.CodedConcept(DECISION[1], DECISION[0], DECISION[2])
        verdict = hd.sr.QualitativeEvaluation(finding, coded(coding[prediction]["type"]))
        shown = prediction
    measurements = [
        hd.sr.Measurement(
            name=codes.DCM.Probability,
            value=round(float(probabilities[shown]), 6),
            unit=unitless,
            qualifier=None,
            method=hd.sr.CodedConcept("TEMPERATURE", PRIVATE_SCHEME, "Temperature-scaled softmax"),
        )
    ]
    if threshold is not None:
        measurements.append(
            hd.sr.Measurement(
                name=codes.DCM.ThresholdValue, value=round(float(threshold), 6), unit=unitless
            )
        )
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=result_uid("sr-finding", series_uid, algorithm), identifier=f"{shown} (medimg)"
        ),
        finding_type=finding,
        algorithm_id=hd.sr.AlgorithmIdentification(algorithm.name, algorithm.version),
        measurements=measurements,
        qualitative_evaluations=[verdict],
    )
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=result_uid("device", "", algorithm),
            name=algorithm.name[:64],
            manufacturer_name=algorithm.manufacturer,
            model_name=algorithm.version[:64],
        ),
    )
    procedure = (
        codes.LN.CTUnspecifiedBodyRegion
        if sources[0].get("Modality") == "CT"
        else codes.SCT.ImagingProcedure
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=procedure,
        imaging_measurements=[group],
    )
    with quiet_about_sources():
        return hd.sr.Comprehensive3DSR(
            evidence=sources,
            content=report,
            **result_identity("sr", sources, algorithm, SERIES_NUMBER),
            is_complete=True,
        )
