"""params.yaml's results and pacs sections: how predictions go back to a PACS as DICOM, and where
that PACS is.

``results`` is read by the export step, which copies it into the bundle, so a deployment machine
codes its DICOM SEG segments and SR findings without params.yaml. ``pacs`` is read by no DVC stage:
only `medimg pacs pull`, `medimg predict --send` and the watcher flow use it. The server's address
may come from an environment variable and its credentials always do: nothing secret is committed.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from medimg.config.base import PositiveFloat, PositiveInt, Section


class CodedConcept(Section):
    """A coded concept as DICOM writes one: code value, coding scheme, meaning."""

    code: Annotated[str, Field(min_length=1, max_length=64)]
    scheme: Annotated[str, Field(min_length=1, max_length=16)]  # SCT, DCM, LN, or 99XXX (private)
    meaning: Annotated[str, Field(min_length=1, max_length=64)]


class ClassCoding(Section):
    """What one class is, in codes: a SEG segment's property type and category; an SR's finding."""

    name: str  # one of data.class_names
    type: CodedConcept
    category: CodedConcept | None = None  # default: (123037004, SCT, Anatomical Structure)


class ResultsParams(Section):
    manufacturer: Annotated[str, Field(min_length=1, max_length=64)] = "medimg"
    # a list, so a workload preset replaces it whole; classes not named get a private code
    # (scheme 99MEDIMG) with their name as its meaning; entries for classes the model does not have
    # are ignored (class names may come from a dataset.json)
    classes: list[ClassCoding] = Field(default_factory=list)

    @field_validator("classes")
    @classmethod
    def _each_class_once(cls, value: list[ClassCoding]) -> list[ClassCoding]:
        names = [c.name for c in value]
        if len(set(names)) != len(names):
            raise ValueError(f"a class is coded twice: {names}")
        return value


class RetrieveRule(Section):
    """Which studies to look for: every field set must match (QIDO-RS query keys)."""

    modality: str | None = None  # ModalitiesInStudy, e.g. CT
    study_description: str | None = None  # wildcards * and ? as DICOM allows
    study_date: str | None = None  # YYYYMMDD or a range YYYYMMDD-YYYYMMDD
    accession_numbers: list[str] = Field(default_factory=list)  # one query per number

    def filters(self) -> list[dict[str, str]]:
        """One QIDO-RS filter set per query this rule needs (one per accession number)."""
        common = {
            key: value
            for key, value in (
                ("ModalitiesInStudy", self.modality),
                ("StudyDescription", self.study_description),
                ("StudyDate", self.study_date),
            )
            if value
        }
        if not self.accession_numbers:
            return [common]
        return [{**common, "AccessionNumber": number} for number in self.accession_numbers]


class WatchParams(Section):
    """The watcher flow: poll the PACS, run the model on each new study, send the result back."""

    rule: RetrieveRule = RetrieveRule()
    poll_s: PositiveFloat = 60.0  # how often the served deployment polls
    # champion: the MLflow registry's champion version (tracking.registered_model), fetched once per
    # version; or a bundle folder such as artifacts
    bundle: Annotated[str, Field(min_length=1)] = "champion"
    variant: str = "ort_fp32"
    ledger: str = ".medimg/watch/ledger.sqlite"  # which studies are done, by pseudonym only
    workdir: str = ".medimg/watch/work"  # each study's files while it is processed, then deleted
    max_attempts: PositiveInt = 3  # after this many failed polls a study is left as failed
    deployment: Annotated[str, Field(min_length=1)] = "pacs-watcher"

    @model_validator(mode="after")
    def _champion_is_fp32(self) -> WatchParams:
        if self.bundle == "champion" and self.variant != "ort_fp32":
            raise ValueError(
                "variant: the registry holds the champion's fp32 ONNX model only; use ort_fp32, "
                "or point bundle at an exported folder that has the other variants"
            )
        return self


class PacsParams(Section):
    url: str | None = None  # DICOMweb root, e.g. http://pacs:8042/dicom-web; url_env overrides
    url_env: str = "MEDIMG_PACS_URL"
    username_env: str = "MEDIMG_PACS_USER"  # credentials are read from these variables only
    password_env: str = "MEDIMG_PACS_PASSWORD"
    timeout_s: PositiveFloat = 60.0
    watch: WatchParams = WatchParams()

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value}' is not a DICOMweb address (http:// or https://)")
        return value

    @model_validator(mode="after")
    def _no_credentials_in_url(self) -> PacsParams:
        if self.url and "@" in self.url.split("//", 1)[1].split("/", 1)[0]:
            raise ValueError(
                "pacs.url holds credentials; put them in the variables named by "
                "pacs.username_env and pacs.password_env instead, never in a committed file"
            )
        return self
