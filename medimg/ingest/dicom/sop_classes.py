"""What kind of object a DICOM file holds, from its SOP Class UID and Modality.

Planning needs three answers: is it a slice of a 3D series, a 2D picture, or an object that is not
an image at all (structured report, RT structure set, presentation state, key object, PDF...).
"""

from __future__ import annotations

from pydicom.uid import UID

# SOP Class UID prefixes of objects that carry no image to learn from, with the short type we report.
NON_IMAGE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("1.2.840.10008.5.1.4.1.1.88.59", "KO"),  # Key Object Selection
    ("1.2.840.10008.5.1.4.1.1.88.", "SR"),  # structured reports
    ("1.2.840.10008.5.1.4.1.1.11.", "PR"),  # presentation states
    ("1.2.840.10008.5.1.4.1.1.104.", "DOC"),  # encapsulated PDF / CDA / STL
    ("1.2.840.10008.5.1.4.1.1.481.2", "RTDOSE"),
    ("1.2.840.10008.5.1.4.1.1.481.3", "RTSTRUCT"),
    ("1.2.840.10008.5.1.4.1.1.481.5", "RTPLAN"),
    ("1.2.840.10008.5.1.4.1.1.481.", "RT"),
    ("1.2.840.10008.5.1.4.1.1.66.4", "SEG"),  # a segmentation: a mask source, never an input image
    ("1.2.840.10008.5.1.4.1.1.66", "REG"),  # raw data, registration, fiducials, surfaces
    ("1.2.840.10008.5.1.4.1.1.9.", "ECG"),  # waveforms
)
NON_IMAGE_MODALITIES = {
    "SR",
    "KO",
    "PR",
    "DOC",
    "RTSTRUCT",
    "RTPLAN",
    "RTRECORD",
    "REG",
    "FID",
    "SEG",
    "ECG",
}

# Projection radiographs, photographs and secondary captures: one picture per file, no 3D stack.
PICTURE_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.1",  # CR, DX, MG, intra-oral (1.1.1.x, 1.1.2.x, 1.1.3.x)
    "1.2.840.10008.5.1.4.1.1.7",  # secondary capture, single- and multi-frame
    "1.2.840.10008.5.1.4.1.1.77.1",  # visible light: endoscopy, microscopy, photography, ophthalmic
)
PICTURE_MODALITIES = {"CR", "DX", "MG", "IO", "PX", "XC", "OP", "ES", "SM", "GM", "OT"}
VOLUME_MODALITIES = {"CT", "MR", "PT", "NM"}


def non_image_type(sop_class_uid: str, modality: str) -> str | None:
    """The short object type (SR, RTSTRUCT, PR, KO, DOC, SEG...) if this is not an image, else None."""
    for prefix, kind in NON_IMAGE_PREFIXES:
        if sop_class_uid.startswith(prefix):
            return kind
    return modality if modality in NON_IMAGE_MODALITIES else None


def is_picture(sop_class_uid: str, modality: str) -> bool:
    """A 2D item (radiograph, photo, secondary capture) rather than a slice of a volume."""
    if modality in VOLUME_MODALITIES and not sop_class_uid.startswith("1.2.840.10008.5.1.4.1.1.7"):
        return False
    # "1.2.840.10008.5.1.4.1.1.1" is also the prefix of every later class number (1.1.12...), so match dots
    return modality in PICTURE_MODALITIES or any(
        sop_class_uid == p or sop_class_uid.startswith(p + ".") for p in PICTURE_PREFIXES
    )


def sop_class_name(sop_class_uid: str) -> str:
    name = UID(sop_class_uid).name if sop_class_uid else ""
    return name if name and name != sop_class_uid else "unknown SOP class"
