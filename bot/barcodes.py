"""Read barcodes and QR codes from a picture of a parcel label (zxing-cpp, Pillow).

Pure and blocking: callers run ``read_codes`` in a worker thread.
"""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image, UnidentifiedImageError

# Larger pictures are refused before decoding (decompression bombs). A JPEG decodes at a
# reduced scale (draft mode), so it may be larger than a PNG, which decodes whole.
MAX_PIXELS = 50_000_000
MAX_PIXELS_DECODED_WHOLE = 16_000_000
MAX_SIDE = 2560  # larger pictures are scaled down first: enough for a label, and faster
# Only ordinary picture formats: Pillow would hand EPS files to Ghostscript, if installed.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG includes MPO
MAX_CODES = 10  # codes kept from one picture (a page of labels)


class UnreadableImage(Exception):
    """The bytes are not a picture Pillow can open."""


class ImageTooLarge(UnreadableImage):
    """The picture has more pixels than the bot decodes."""


def read_codes(data: bytes) -> list[str]:
    """Return the texts of the barcodes and 2D codes in a picture, in reading order, once each.

    Raises:
        ImageTooLarge: more pixels than MAX_PIXELS (a JPEG) or MAX_PIXELS_DECODED_WHOLE.
        UnreadableImage: not a picture in FORMATS, or a broken one.
    """
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            # MPO: a JPEG with several pictures (many phones' HDR photos); it decodes like one.
            jpeg = image.format in {"JPEG", "MPO"}
            limit = MAX_PIXELS if jpeg else MAX_PIXELS_DECODED_WHOLE
            if image.width * image.height > limit:
                raise ImageTooLarge(f"{image.width}x{image.height} pixels is too large")
            image.draft("L", (MAX_SIDE, MAX_SIDE))  # a JPEG decodes at a smaller scale
            gray = image.convert("L")
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,  # raised where warnings are errors (the tests)
        OSError,
        SyntaxError,  # Pillow raises it for some malformed headers
        ValueError,
    ) as err:
        raise UnreadableImage(str(err)) from err
    if max(gray.size) > MAX_SIDE:
        gray.thumbnail((MAX_SIDE, MAX_SIDE))
    texts: list[str] = []
    for barcode in zxingcpp.read_barcodes(gray):
        text = barcode.text.strip()
        if barcode.valid and text and text not in texts:
            texts.append(text)
    return texts[:MAX_CODES]
