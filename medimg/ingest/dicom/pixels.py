"""Decode DICOM pixel data into modality values: rescale applied (HU for CT), MONOCHROME1 inverted.

pydicom decodes every transfer syntax through its plugins (pylibjpeg-libjpeg for JPEG baseline,
lossless and JPEG-LS, pylibjpeg-openjpeg for JPEG 2000, pylibjpeg-rle / numpy for RLE, python-gdcm
as a fallback). A file no plugin can decode raises :class:`PixelDecodeError` with a reason code.
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
import pydicom
from pydicom.pixels import pixel_array
from pydicom.uid import UID

from medimg.ingest.dicom.headers import SliceHeader
from medimg.io.problems import ItemProblem


class PixelDecodeError(ItemProblem):
    """Pixel data that no installed decoder can turn into numbers."""


def decode_file(path: str, multi_frame: bool) -> np.ndarray:
    """All frames of one file as stored values: (frames, rows, cols[, samples]).

    ``pydicom.pixels.pixel_array`` parses only the elements decoding needs, which makes it about a
    third faster than a full ``dcmread`` on a stack of small slices.
    """
    overrun = _pixel_data_overrun(path)
    if overrun:
        raise PixelDecodeError("unreadable_pixels", overrun)
    try:
        pixels = pixel_array(path)
    except NotImplementedError:
        syntax = _transfer_syntax(path)
        raise PixelDecodeError(
            "no_decoder", f"no installed decoder for transfer syntax {syntax.name}"
        ) from None
    except (RuntimeError, ValueError) as exc:
        text = " ".join(line.strip() for line in str(exc).splitlines())[:300]
        code = "no_decoder" if "plugin" in text or "decoder" in text else "unreadable_pixels"
        raise PixelDecodeError(code, f"pixel data could not be decoded: {text}") from None
    except Exception as exc:  # damaged files surface as many exception types
        raise PixelDecodeError(
            "unreadable_pixels", f"pixel data could not be read ({type(exc).__name__})"
        ) from None
    return pixels if multi_frame else pixels[np.newaxis]


def _pixel_data_overrun(path: str) -> str | None:
    """Why PixelData cannot be trusted when its length field claims more bytes than the file holds
    (a damaged length field or a truncated file); pydicom would quietly decode what is there."""
    try:
        ds = pydicom.dcmread(path, defer_size=1024, specific_tags=["PixelData"])
        element = ds._dict.get(0x7FE00010)
        length, start = getattr(element, "length", None), getattr(element, "value_tell", None)
        size = os.path.getsize(path)
    except Exception:
        return None  # the decoder reports what is wrong with such a file
    if length is None or start is None or length == 0xFFFFFFFF or start + length <= size:
        return None
    return f"PixelData declares {length} bytes but the file holds {size - start} after its start"


def _transfer_syntax(path: str) -> UID:
    try:
        return UID(
            str(
                pydicom.dcmread(path, stop_before_pixels=True).file_meta.get(
                    "TransferSyntaxUID", ""
                )
            )
        )
    except Exception:
        return UID("")


def stored_range(bits_stored: int, signed: bool) -> tuple[int, int]:
    return (
        (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1)
        if signed
        else (0, 2**bits_stored - 1)
    )


def to_modality_values(stored: np.ndarray, header: SliceHeader, signed: bool) -> np.ndarray:
    """Apply RescaleSlope/Intercept; invert MONOCHROME1 so that higher always means brighter/denser."""
    values = stored.astype(np.float64) * header.slope + header.intercept
    if header.photometric == "MONOCHROME1":
        low, high = (
            v * header.slope + header.intercept for v in stored_range(header.bits_stored, signed)
        )
        values = (low + high) - values
    return values


def output_dtype(headers: list[SliceHeader], stored: np.dtype) -> np.dtype:
    """The stored type, int16 or int32 when every rescale keeps integers, else float32.

    Like GDCM, the choice covers every value BitsStored allows after rescale, not only the values
    present, so all series from one scanner get the same type.
    """
    integral = all(h.slope == 1.0 and float(h.intercept).is_integer() for h in headers)
    if not integral:
        return np.dtype(np.float32)
    signed = stored.kind == "i"
    bounds = [
        v * h.slope + h.intercept for h in headers for v in stored_range(h.bits_stored, signed)
    ]
    low, high = min(bounds), max(bounds)
    for candidate in (stored, np.dtype(np.int16), np.dtype(np.int32)):
        if (
            candidate.kind in "iu"
            and np.iinfo(candidate).min <= low
            and high <= np.iinfo(candidate).max
        ):
            return candidate
    return np.dtype(np.float32)


def _is_identity(header: SliceHeader) -> bool:
    return header.slope == 1.0 and header.intercept == 0.0 and header.photometric != "MONOCHROME1"


def read_native(header: SliceHeader) -> np.ndarray:
    """An uncompressed little-endian frame read straight from its offset (no dataset parsing)."""
    offset, dtype = header.native_pixels
    count = header.rows * header.columns
    try:
        values = np.fromfile(header.path, dtype=np.dtype(dtype), count=count, offset=offset)
    except OSError as exc:
        raise PixelDecodeError(
            "unreadable_pixels", f"pixel data could not be read ({exc.strerror})"
        ) from None
    if values.size != count:
        raise PixelDecodeError(
            "unreadable_pixels",
            f"pixel data holds {values.size} of the {count} values that "
            "Rows x Columns declare (truncated file)",
        )
    return values.reshape(1, header.rows, header.columns)


def _stored_frames(header: SliceHeader) -> np.ndarray:
    """All frames of ``header``'s file, by the fastest reader that can."""
    if header.native_pixels is not None:
        return read_native(header)
    return decode_file(header.path, multi_frame=header.frame is not None)


def read_slices(headers: list[SliceHeader]) -> np.ndarray:
    """The frames named by ``headers`` (in that order) as one (n, rows, cols[, samples]) array of modality values.

    Each file is decoded once, however many of its frames are used. Frames without rescale keep their
    stored type (uint8 RGB stays uint8); rescaled ones become int16/int32 or float32 as GDCM does.
    """
    by_path: dict[str, list[int]] = defaultdict(list)
    for index, header in enumerate(headers):
        by_path[header.path].append(index)
    identity = all(_is_identity(h) for h in headers)
    planes: list[np.ndarray | None] = [None] * len(headers)
    stored_type = np.dtype(np.uint16)
    for _path, indices in by_path.items():
        stored = _stored_frames(headers[indices[0]])
        stored_type = stored.dtype
        signed = stored.dtype.kind == "i"
        for index in indices:
            header = headers[index]
            frame = header.frame or 0
            if frame >= len(stored):
                raise PixelDecodeError(
                    "unreadable_pixels", f"frame {frame + 1} missing from pixel data"
                )
            planes[index] = (
                stored[frame] if identity else to_modality_values(stored[frame], header, signed)
            )
    shapes = {p.shape for p in planes}  # type: ignore[union-attr]
    if len(shapes) != 1:
        raise PixelDecodeError("inconsistent_size", f"frames of different sizes {sorted(shapes)}")
    volume = np.stack(planes)  # type: ignore[arg-type]
    if identity:
        return volume
    dtype = output_dtype(headers, stored_type)
    return np.rint(volume).astype(dtype) if dtype.kind == "i" else volume.astype(dtype)
