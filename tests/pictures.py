"""Photos of parcel labels for the barcode tests, drawn with zxing-cpp and Pillow (offline)."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image, ImageDraw, ImageOps


def code_image(text: str, kind: zxingcpp.BarcodeFormat, scale: int = 3) -> Image.Image:
    """Return one code as a grayscale image with a quiet zone."""
    drawn = memoryview(zxingcpp.create_barcode(text, kind).to_image(scale=scale))
    height, width = drawn.shape[0], drawn.shape[1]
    image = Image.frombytes("L", (width, height), bytes(drawn))
    return ImageOps.expand(image, border=10 * scale, fill=255)


def label_photo(
    *codes: tuple[str, zxingcpp.BarcodeFormat], angle: float = 6.0, fmt: str = "JPEG"
) -> bytes:
    """Return a photo-like picture: codes pasted on a label, slightly turned, on a desk."""
    desk = Image.new("RGB", (1400, 1000 + 260 * len(codes)), (186, 170, 150))
    draw = ImageDraw.Draw(desk)
    draw.rectangle((80, 60, 1320, 940 + 260 * len(codes)), fill=(250, 250, 245))
    for index, (text, kind) in enumerate(codes):
        code = code_image(text, kind).rotate(angle, expand=True, fillcolor=255)
        desk.paste(code, (160, 120 + 420 * index))
    out = io.BytesIO()
    desk.save(out, fmt, quality=85) if fmt == "JPEG" else desk.save(out, fmt)
    return out.getvalue()


def blank_photo() -> bytes:
    """Return a photo without any code."""
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (120, 140, 160)).save(out, "JPEG")
    return out.getvalue()
