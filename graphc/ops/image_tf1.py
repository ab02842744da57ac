"""TF1's tf.image resizing functions (NHWC images, or HWC for one image), each a choice
of `resize_axes` options over the height and width axes.

TF1's conventions as ONNX coordinate transformations: the legacy default samples
output j at j·in/out ('asymmetric'); align_corners maps the corner pixels onto each
other; half_pixel_centers samples pixel centres ('half_pixel'). TF1's nearest neighbour
floors the legacy coordinate and rounds the others half up; its half-pixel bicubic
is Keys' kernel (a = −0.5) with taps outside the image dropped, the legacy one a = −0.75
reading the edge. TF quantises bicubic weights to 1/1024 steps; graphc computes them
exactly, so bicubic results differ from TF's in about the third decimal.
"""
from __future__ import annotations

import enum

from ..ir import Node, ShapeError
from .base import as_tensor
from .image_layout import center_crop_or_pad
from .image_resize import as_float, resize_axes
from .shape import expand_dims, squeeze


class ResizeMethod(enum.IntEnum):
    """tf.image.ResizeMethod (TF1's values)."""
    BILINEAR = 0
    NEAREST_NEIGHBOR = 1
    BICUBIC = 2
    AREA = 3


def _hw(images, size, what: str):
    """(images as NHWC, whether it was HWC, (height, width))."""
    images = as_tensor(images)
    if images.rank not in (3, 4):
        raise ShapeError(f"{what}: images '{images.name}' {images.type} must be 4-D NHWC "
                         "or 3-D HWC")
    size = [int(s) for s in size]
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{what}: size must be two positive ints (height, width), got "
                         f"{size}")
    single = images.rank == 3
    return (expand_dims(images, 0) if single else images), single, size


def _resize(images, size, method: str, align_corners: bool, half_pixel_centers: bool,
            what: str, name) -> Node:
    if align_corners and half_pixel_centers:
        raise ValueError(f"{what}: half_pixel_centers=True needs align_corners=False")
    x, single, size = _hw(images, size, what)
    coordinates = ("align_corners" if align_corners else
                   "half_pixel" if half_pixel_centers else "asymmetric")
    options = {}
    if method == "nearest":
        options["nearest_mode"] = ("floor" if coordinates == "asymmetric"
                                   else "round_prefer_ceil")
    elif method == "cubic" and half_pixel_centers:
        options.update(cubic_coeff_a=-0.5, exclude_outside=True)
    elif method == "area" and coordinates != "asymmetric":
        raise ValueError(f"{what}: align_corners / half_pixel_centers are not supported "
                         "by graphc's area resizing")
    if method != "nearest":
        x = as_float(x)
    y = resize_axes(x, size, (1, 2), method, coordinates, name=name or what, **options)
    return squeeze(y, [0]) if single else y


def resize_bilinear(images, size, align_corners=False, half_pixel_centers=False,
                    name=None) -> Node:
    """Bilinear interpolation of NHWC images to size (height, width) (TF1)."""
    return _resize(images, size, "linear", align_corners, half_pixel_centers,
                   "resize_bilinear", name)


def resize_nearest_neighbor(images, size, align_corners=False, half_pixel_centers=False,
                            name=None) -> Node:
    """Nearest-neighbour resizing of NHWC images (TF1); keeps the dtype."""
    return _resize(images, size, "nearest", align_corners, half_pixel_centers,
                   "resize_nearest_neighbor", name)


def resize_bicubic(images, size, align_corners=False, half_pixel_centers=False,
                   name=None) -> Node:
    """Bicubic interpolation of NHWC images (TF1; see the module note on weights)."""
    return _resize(images, size, "cubic", align_corners, half_pixel_centers,
                   "resize_bicubic", name)


def resize_area(images, size, align_corners=False, name=None) -> Node:
    """Each output pixel the average of the input area it covers (TF1)."""
    return _resize(images, size, "area", align_corners, False, "resize_area", name)


_BY_METHOD = {ResizeMethod.BILINEAR: resize_bilinear,
              ResizeMethod.NEAREST_NEIGHBOR: resize_nearest_neighbor,
              ResizeMethod.BICUBIC: resize_bicubic, ResizeMethod.AREA: resize_area}


def resize_images(images, size, method=ResizeMethod.BILINEAR, align_corners=False,
                  preserve_aspect_ratio=False, name=None) -> Node:
    """TF1's tf.image.resize_images: one of the resize functions by `method`;
    preserve_aspect_ratio scales both sides by the smaller factor (so the result fits
    in `size`)."""
    x, _, (height, width) = _hw(images, size, "resize_images")
    if preserve_aspect_ratio:
        h, w = x.shape[1:3]
        if h is None or w is None:
            raise ShapeError(f"resize_images: images {x.type} need a known height and width")
        factor = min(height / h, width / w)
        height, width = max(int(round(h * factor)), 1), max(int(round(w * factor)), 1)
    try:
        fn = _BY_METHOD[ResizeMethod(method)]
    except ValueError:
        raise ValueError(f"resize_images: unknown method {method!r} (use "
                         "gc.image.ResizeMethod)") from None
    return fn(images, (height, width), align_corners=align_corners, name=name)


def resize_image_with_crop_or_pad(image, target_height, target_width, name=None) -> Node:
    """TF1: the centre of an NHWC (or HWC) image cropped, or zero-padded, to
    target_height × target_width."""
    x = as_tensor(image)
    if x.rank not in (3, 4):
        raise ShapeError(f"resize_image_with_crop_or_pad: image '{x.name}' {x.type} must "
                         "be 4-D NHWC or 3-D HWC")
    axes = (0, 1) if x.rank == 3 else (1, 2)
    return center_crop_or_pad(x, (target_height, target_width), axes,
                              name=name or "resize_image_with_crop_or_pad")
