"""`gc.image`: resizing, resampling and cropping of images, with TF1's names (NHWC
images) where TF1 has them."""
from .ops.image_layout import center_crop_or_pad, col2im, depth_to_space, space_to_depth
from .ops.image_resize import axis_taps, resize_axes
from .ops.image_sample import affine_grid, grid_sample, roi_align
from .ops.image_tf1 import (ResizeMethod, resize_area, resize_bicubic, resize_bilinear,
                            resize_image_with_crop_or_pad, resize_images,
                            resize_nearest_neighbor)

__all__ = ["ResizeMethod", "affine_grid", "axis_taps", "center_crop_or_pad", "col2im",
           "depth_to_space", "grid_sample", "resize_area", "resize_axes", "resize_bicubic",
           "resize_bilinear", "resize_image_with_crop_or_pad", "resize_images",
           "resize_nearest_neighbor", "roi_align", "space_to_depth"]
