"""gc.image and the layout functions beside it: resizing against numpy references
written from TF1's definitions and against the onnx wheel's reference Resize; grid
sampling and ROIAlign against onnx's references; space_to_depth, col2im and scatter_nd
against numpy; every compiled backend against the interpreter; gradients against
finite differences in float64."""
import itertools
import math
import zlib

import numpy as np
import pytest

import graphc as gc
from graphc.ops.image_resize import axis_taps

RNG = np.random.default_rng(31)
IMAGES = RNG.standard_normal((2, 5, 7, 3))


# -- numpy references from TF1's kernels (per axis: resizing is separable) -------------
def _scale(n_in, n_out, align_corners):
    return (n_in - 1) / (n_out - 1) if align_corners and n_out > 1 else n_in / n_out


def _tf_bilinear_1d(x, n_out, align_corners=False, half_pixel_centers=False):
    n_in, s = x.shape[0], _scale(x.shape[0], n_out, align_corners)
    rows = []
    for j in range(n_out):
        src = (j + 0.5) * s - 0.5 if half_pixel_centers else j * s
        lo = min(max(math.floor(src), 0), n_in - 1)
        hi = min(math.ceil(src), n_in - 1) if half_pixel_centers else min(lo + 1, n_in - 1)
        t = src - math.floor(src)
        rows.append(x[lo] + (x[hi] - x[lo]) * t)
    return np.stack(rows)


def _tf_nearest_1d(x, n_out, align_corners=False, half_pixel_centers=False):
    n_in, s = x.shape[0], _scale(x.shape[0], n_out, align_corners)
    out = []
    for j in range(n_out):
        src = (j + 0.5) * s if half_pixel_centers else j * s
        i = math.floor(src + 0.5) if align_corners else math.floor(src)
        out.append(x[max(min(i, n_in - 1), 0)])
    return np.stack(out)


def _keys(d, a):
    d = abs(d)
    if d <= 1:
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
    return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a if d < 2 else 0.0


def _tf_bicubic_1d(x, n_out, align_corners=False, half_pixel_centers=False):
    n_in, s = x.shape[0], _scale(x.shape[0], n_out, align_corners)
    a = -0.5 if half_pixel_centers else -0.75
    out = []
    for j in range(n_out):
        src = (j + 0.5) * s - 0.5 if half_pixel_centers else j * s
        f = math.floor(src)
        taps = [(f + o, _keys(src - (f + o), a)) for o in (-1, 0, 1, 2)]
        if half_pixel_centers:      # taps outside the image dropped, the rest renormalised
            taps = [(i, w) for i, w in taps if 0 <= i < n_in]
            total = sum(w for _, w in taps)
            taps = [(i, w / total) for i, w in taps]
        out.append(sum(w * x[min(max(i, 0), n_in - 1)] for i, w in taps))
    return np.stack(out)


def _tf_area_1d(x, n_out, align_corners=False, half_pixel_centers=False):
    n_in = x.shape[0]
    s = n_in / n_out
    out = []
    for j in range(n_out):
        lo, hi = j * s, (j + 1) * s
        acc = 0
        for i in range(math.floor(lo), math.ceil(hi)):
            acc = acc + (min(i + 1, hi) - max(i, lo)) * x[min(i, n_in - 1)]
        out.append(acc / s)
    return np.stack(out)


def _tf_2d(fn, images, size, **kw):
    """NHWC: the 1-D reference along height, then along width."""
    y = np.moveaxis(fn(np.moveaxis(images, 1, 0), size[0], **kw), 0, 1)
    return np.moveaxis(fn(np.moveaxis(y, 2, 0), size[1], **kw), 0, 2)


TF_CASES = {   # name: (graphc function, numpy reference, size, options)
    "bilinear_up": (gc.image.resize_bilinear, _tf_bilinear_1d, (9, 12), {}),
    "bilinear_down": (gc.image.resize_bilinear, _tf_bilinear_1d, (3, 4), {}),
    "bilinear_align": (gc.image.resize_bilinear, _tf_bilinear_1d, (8, 4),
                       {"align_corners": True}),
    "bilinear_half": (gc.image.resize_bilinear, _tf_bilinear_1d, (8, 4),
                      {"half_pixel_centers": True}),
    "nearest_up": (gc.image.resize_nearest_neighbor, _tf_nearest_1d, (9, 12), {}),
    "nearest_down": (gc.image.resize_nearest_neighbor, _tf_nearest_1d, (3, 4), {}),
    "nearest_align": (gc.image.resize_nearest_neighbor, _tf_nearest_1d, (8, 4),
                      {"align_corners": True}),
    "nearest_half": (gc.image.resize_nearest_neighbor, _tf_nearest_1d, (8, 5),
                     {"half_pixel_centers": True}),
    "bicubic_up": (gc.image.resize_bicubic, _tf_bicubic_1d, (9, 12), {}),
    "bicubic_align": (gc.image.resize_bicubic, _tf_bicubic_1d, (3, 10),
                      {"align_corners": True}),
    "bicubic_half": (gc.image.resize_bicubic, _tf_bicubic_1d, (8, 4),
                     {"half_pixel_centers": True}),
    "area_down": (gc.image.resize_area, _tf_area_1d, (2, 3), {}),
    "area_up": (gc.image.resize_area, _tf_area_1d, (7, 10), {}),
}


# -- numpy references from the onnx wheel ------------------------------------------------
def _onnx_reference(op_type, inputs, **attrs):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator
    names = [f"in{i}" for i in range(len(inputs))]
    node = onnx.helper.make_node(op_type, names, ["y"], **attrs)
    model = onnx.helper.make_model(
        onnx.helper.make_graph([node], "g", [onnx.helper.make_tensor_value_info(
            n, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for n, v in zip(names, inputs)],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.UNDEFINED, None)]),
        opset_imports=[onnx.helper.make_opsetid("", 22)])
    return ReferenceEvaluator(model).run(None, dict(zip(names, inputs)))[0]


def _nchw(x):
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


GRID = RNG.uniform(-1.2, 1.2, (2, 4, 6, 2))
ROIS = np.array([[0.5, 1.0, 5.2, 4.0], [-1.5, 0.3, 3.0, 6.5], [2.0, 2.0, 2.4, 2.2]])
ROI_BATCH = np.array([1, 0, 1])


def _forward_cases(x):
    """name: (graphc tensor, numpy reference) for one float64 NHWC input x = IMAGES."""
    cases = {f"tf_{name}": (fn(x, size, **kw), _tf_2d(ref, IMAGES, size, **kw))
             for name, (fn, ref, size, kw) in TF_CASES.items()}
    for method, padding, align in itertools.product(
            ("nearest", "linear", "cubic"), ("zeros", "border", "reflection"), (0, 1)):
        want = np.moveaxis(_onnx_reference("GridSample", [_nchw(IMAGES), GRID],
                                           mode=method, padding_mode=padding,
                                           align_corners=align), 1, -1)
        cases[f"grid_{method}_{padding}_{align}"] = (
            gc.image.grid_sample(x, gc.constant(GRID), method, padding, bool(align)), want)
    for aligned, mode in itertools.product((False, True), ("avg", "max")):
        want = _onnx_reference(
            "RoiAlign", [_nchw(IMAGES), ROIS, ROI_BATCH.astype(np.int64)], output_height=3,
            output_width=2, sampling_ratio=2, spatial_scale=0.5, mode=mode,
            coordinate_transformation_mode="half_pixel" if aligned else "output_half_pixel")
        cases[f"roi_align_{mode}_{aligned}"] = (
            gc.image.roi_align(x, gc.constant(ROIS), gc.constant(ROI_BATCH), (3, 2),
                               spatial_scale=0.5, mode=mode, aligned=aligned),
            np.moveaxis(want, 1, -1))
    wide = gc.concat([x, x], 2)[:, :4, :6]                  # (2, 4, 6, 3)
    wide_np = np.concatenate([IMAGES, IMAGES], 2)[:, :4, :6]
    cases["space_to_depth"] = (gc.space_to_depth(wide, 2), wide_np.reshape(
        2, 2, 2, 3, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 2, 3, 12))
    cases["depth_to_space_crd"] = (
        gc.depth_to_space(gc.reshape(wide, (2, 9, 2, 4)), 3, data_format="NCHW", mode="CRD"),
        _depth_to_space_crd(wide_np.reshape(2, 9, 2, 4), 3))
    cases["crop_or_pad"] = (gc.image.resize_image_with_crop_or_pad(x, 3, 10),
                            np.pad(IMAGES[:, 1:4], [(0, 0), (0, 0), (1, 2), (0, 0)]))
    cases["affine_grid"] = (gc.image.affine_grid(gc.reshape(x[:, :2, :3, 0], (2, 2, 3)),
                                                 (4, 5)),
                            _affine_grid(IMAGES[:, :2, :3, 0], (4, 5)))
    return cases


def _depth_to_space_crd(x, b):
    """ONNX's CRD DepthToSpace, NCHW (the spec's reshape/transpose)."""
    n, c, h, w = x.shape
    return x.reshape(n, c // b ** 2, b, b, h, w).transpose(0, 1, 4, 2, 5, 3).reshape(
        n, c // b ** 2, h * b, w * b)


def _affine_grid(theta, size):
    h, w = size
    ys, xs = (np.arange(h) * 2 + 1) / h - 1, (np.arange(w) * 2 + 1) / w - 1
    out = np.empty((theta.shape[0], h, w, 2))
    for n, i, j in itertools.product(range(theta.shape[0]), range(h), range(w)):
        out[n, i, j] = theta[n] @ [xs[j], ys[i], 1.0]
    return out


@pytest.mark.parametrize("backend", ["numpy", "llvm", "c"])
def test_forward_matches_the_references(backend):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, IMAGES.shape, name="x")
        cases = _forward_cases(x)
    got = gc.Session(graph, backend=backend).run({k: t for k, (t, _) in cases.items()},
                                                 {x: IMAGES})
    for key, (_, want) in cases.items():
        assert got[key].shape == want.shape, key
        # onnx's GridSample reference computes the coordinates in float32
        tol = 1e-5 if key.startswith("grid_") else 1e-10
        np.testing.assert_allclose(got[key], want, rtol=tol, atol=tol / 10, err_msg=key)


ONNX_RESIZE = list(itertools.product(
    [(5, 3), (4, 9), (6, 6), (1, 3), (7, 1)],
    ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
     "asymmetric", "tf_crop_and_resize"],
    [("nearest", {"nearest_mode": m}) for m in ("round_prefer_floor", "round_prefer_ceil",
                                                "floor", "ceil")]
    + [("linear", {}), ("cubic", {"cubic_coeff_a": -0.5}), ("linear", {"antialias": 1}),
       ("cubic", {"antialias": 1}), ("cubic", {"exclude_outside": 1})]))


@pytest.mark.parametrize("sizes,coordinates,method", ONNX_RESIZE,
                         ids=[f"{s[0]}to{s[1]}-{c}-{m}-{'-'.join(map(str, o.values()))}"
                              for s, c, (m, o) in ONNX_RESIZE])
def test_axis_taps_match_onnx_reference_resize(sizes, coordinates, method):
    """One axis's map, as a matrix, against the onnx wheel's Resize of each basis
    vector (extrapolated rows compared through the mask)."""
    (n_in, n_out), (mode, options) = sizes, method
    eye = np.eye(n_in)
    attrs = dict(options, mode=mode, coordinate_transformation_mode=coordinates,
                 extrapolation_value=0.0)
    inputs = [eye, np.array([0.0, 0.2, 1.0, 0.9]), np.array([], np.float64),
              np.array([n_in, n_out], np.int64)]
    want = _onnx_reference("Resize", inputs, **attrs).T          # (out, in)
    taps = axis_taps(n_in, n_out, mode, coordinates, roi=(0.2, 0.9),
                     **{k: bool(v) if k in ("antialias", "exclude_outside") else v
                        for k, v in options.items()})
    np.testing.assert_allclose(taps.matrix(n_in), want, atol=2e-6)   # onnx: some float32


def test_resize_with_scales_and_extrapolation(graph):
    """ONNX's scale (not out/in) in the coordinates, and tf_crop_and_resize's
    extrapolation value where any axis samples outside, on an N-D tensor."""
    x = RNG.standard_normal((2, 4, 5)).astype(np.float32)
    attrs = dict(mode="linear", coordinate_transformation_mode="tf_crop_and_resize",
                 extrapolation_value=9.0)
    roi = np.array([0, -0.2, 0.1, 1, 0.8, 1.3], np.float32)
    want = _onnx_reference("Resize", [x, roi, np.array([], np.float32),
                                      np.array([2, 6, 4], np.int64)], **attrs)
    got = gc.image.resize_axes(gc.constant(x), [6, 4], [1, 2], "linear",
                               "tf_crop_and_resize", roi=[(-0.2, 0.8), (0.1, 1.3)],
                               extrapolation_value=9.0)
    np.testing.assert_allclose(gc.Session(graph).run(got), want, rtol=1e-5, atol=1e-6)
    scales = np.array([1, 1, 0.6], np.float32)
    want = _onnx_reference("Resize", [x, np.array([], np.float32), scales], mode="linear",
                           coordinate_transformation_mode="align_corners")
    got = gc.image.resize_axes(gc.constant(x), [3], [2], "linear", "align_corners",
                               scales=[0.6])
    np.testing.assert_allclose(gc.Session(graph).run(got), want, rtol=1e-5, atol=1e-6)


def test_taps_are_sparse():
    """Each output reads a handful of inputs, however large the image."""
    assert axis_taps(4096, 8192, "linear").index.shape == (8192, 2)
    assert axis_taps(4096, 8192, "nearest").index.shape == (8192, 1)
    assert axis_taps(4096, 1024, "cubic", antialias=True).index.shape[1] <= 16


def test_resize_images_methods_and_aspect_ratio(graph):
    x = gc.constant(IMAGES[0])                                 # one HWC image
    y = gc.image.resize_images(x, (10, 10), preserve_aspect_ratio=True)
    assert y.shape == (7, 10, 3)                               # 5x7 scaled by 10/7
    z = gc.image.resize_images(x, (3, 3), gc.image.ResizeMethod.NEAREST_NEIGHBOR)
    np.testing.assert_array_equal(gc.Session(graph).run(z),
                                  _tf_2d(_tf_nearest_1d, IMAGES[:1], (3, 3))[0])
    ints = gc.image.resize_bilinear(gc.constant(np.ones((1, 2, 2, 1), np.int32)), (3, 3))
    assert ints.dtype == gc.float32


def test_clear_errors(graph):
    x = gc.placeholder(gc.float32, (None, 4, 4, 3), name="x")
    with pytest.raises(ValueError, match="half_pixel_centers=True needs align_corners"):
        gc.image.resize_bilinear(x, (2, 2), align_corners=True, half_pixel_centers=True)
    with pytest.raises(ValueError, match="unknown method"):
        gc.image.resize_images(x, (2, 2), method=7)
    with pytest.raises(gc.ShapeError, match="needs a known size"):
        gc.image.resize_axes(gc.placeholder(gc.float32, (2, None)), [3], [1])
    with pytest.raises(TypeError, match="needs a float tensor"):
        gc.image.resize_axes(gc.constant(np.ones((2, 2), np.int32)), [3], [1])
    with pytest.raises(gc.ShapeError, match="need known sizes"):
        gc.image.grid_sample(x, gc.placeholder(gc.float32, (None, 2, 2, 2)))
    with pytest.raises(gc.ShapeError, match="multiples of block_size"):
        gc.space_to_depth(gc.placeholder(gc.float32, (1, 5, 4, 3)), 2)
    with pytest.raises(ValueError, match="sampling_ratio must be >= 1"):
        gc.image.roi_align(gc.placeholder(gc.float32, (1, 4, 4, 3)), gc.constant(ROIS),
                           gc.constant(ROI_BATCH), (2, 2), sampling_ratio=0)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_scatter_nd_sums_repeats_and_refuses_an_index_out_of_range(backend):
    graph = gc.Graph()
    with graph.as_default():
        i = gc.placeholder(gc.int32, (3, 2), name="i")
        y = gc.scatter_nd(i, gc.constant([1.0, 2.0, 3.0], gc.float64), (4, 2))
    sess = gc.Session(graph, backend=backend)
    want = np.zeros((4, 2))
    want[1, 0], want[3, 1] = 4.0, 2.0
    np.testing.assert_array_equal(sess.run(y, {i: [[1, 0], [3, 1], [1, 0]]}), want)
    for bad in ([[1, 2], [0, 0], [0, 0]], [[4, 0], [0, 0], [0, 0]], [[-1, 0], [0, 0], [0, 0]]):
        with pytest.raises((gc.ExecutionError, IndexError)):
            sess.run(y, {i: bad})


def test_col2im_matches_a_loop(graph):
    """PyTorch's fold: each column's block values added at their pixels."""
    image, block, strides, dilations, pads = (5, 6), (2, 3), (2, 1), (1, 2), [(1, 0), (0, 2)]
    counts = [(n + a + b - d * (k - 1) - 1) // s + 1 for n, (a, b), k, s, d in
              zip(image, pads, block, strides, dilations)]
    cols = RNG.standard_normal((2, 3 * 6, counts[0] * counts[1]))
    want = np.zeros((2, 3) + image)
    for n, c, bi, bj, ci, cj in itertools.product(range(2), range(3), range(2), range(3),
                                                  range(counts[0]), range(counts[1])):
        y = ci * strides[0] + bi * dilations[0] - pads[0][0]
        x = cj * strides[1] + bj * dilations[1] - pads[1][0]
        if 0 <= y < image[0] and 0 <= x < image[1]:
            want[n, c, y, x] += cols[n, c * 6 + bi * 3 + bj, ci * counts[1] + cj]
    got = gc.image.col2im(gc.constant(cols), image, block, strides, dilations, pads)
    np.testing.assert_allclose(gc.Session(graph).run(got), want, rtol=1e-12)


GRADIENT_CASES = {   # name: (function of the float64 inputs, input shapes)
    "resize_linear": (lambda x: gc.image.resize_bilinear(x, (7, 4), half_pixel_centers=True),
                      [(1, 5, 3, 2)]),
    "resize_cubic_antialias": (lambda x: gc.image.resize_axes(
        x, [3, 8], [1, 2], "cubic", antialias=True), [(1, 7, 5, 2)]),
    "resize_area": (lambda x: gc.image.resize_area(x, (2, 4)), [(1, 5, 3, 2)]),
    "resize_extrapolate": (lambda x: gc.image.resize_axes(
        x, [4], [1], "linear", "tf_crop_and_resize", roi=[(-0.3, 1.2)],
        extrapolation_value=2.0), [(2, 3)]),
    "grid_linear_zeros": (lambda x, g: gc.image.grid_sample(x, g, "linear", "zeros"),
                          [(2, 4, 5, 2), (2, 3, 2, 2)]),
    "grid_cubic_border": (lambda x, g: gc.image.grid_sample(x, g, "cubic", "border", True),
                          [(1, 4, 5, 2), (1, 3, 2, 2)]),
    "grid_linear_reflection_3d": (lambda x, g: gc.image.grid_sample(
        x, g, "linear", "reflection"), [(1, 3, 4, 3, 1), (1, 2, 2, 1, 3)]),
    "grid_nearest": (lambda x, g: gc.image.grid_sample(x, g, "nearest") * 1.0 + g[..., :1],
                     [(1, 4, 5, 2), (1, 3, 2, 2)]),
    "affine_grid": (lambda t: gc.image.affine_grid(t, (3, 4), align_corners=True),
                    [(2, 2, 3)]),
    "roi_align": (lambda x, r: gc.image.roi_align(x, r, gc.constant([0, 1]), (2, 2),
                                                  aligned=True), [(2, 5, 6, 2), (2, 4)]),
    "roi_align_max": (lambda x: gc.image.roi_align(x, gc.constant(ROIS[:2]),
                                                   gc.constant([0, 1]), (2, 2), mode="max"),
                      [(2, 5, 6, 2)]),
    "space_to_depth": (lambda x: gc.depth_to_space(gc.space_to_depth(x, 2) * x[:, :2, :2],
                                                   2, mode="CRD"), [(1, 4, 4, 1)]),
    "col2im": (lambda c: gc.image.col2im(c, (3, 4), (2, 2), pads=[(1, 0), (0, 1)]),
               [(1, 4, 12)]),
    "scatter_nd": (lambda u: gc.scatter_nd(gc.constant([[1], [0], [1]]), u, (3, 2)) ** 2,
                   [(3, 2)]),
}


def _gradient_values(name, shapes):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    values = [rng.uniform(-1.0, 1.0, s) for s in shapes]
    if name.startswith("roi_align") and len(shapes) > 1:
        values[1] = np.array([[0.3, 0.6, 4.1, 3.7], [1.2, 0.1, 5.3, 4.4]])
    return values


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradient_matches_finite_differences(name, graph):
    fn, shapes = GRADIENT_CASES[name]
    xs = [gc.placeholder(gc.float64, s, name=f"in{i}") for i, s in enumerate(shapes)]
    y = fn(*xs)
    feed = dict(zip(xs, _gradient_values(name, shapes)))
    pairs = gc.test.compute_gradient(xs, y, feed)
    for theoretical, numerical in pairs:
        np.testing.assert_allclose(theoretical, numerical, rtol=1e-6, atol=1e-7)
    assert all(np.abs(t).max() > 0 for t, _ in pairs)


@pytest.mark.parametrize("backend", ["llvm", "c"])
def test_gradients_match_the_interpreter(backend):
    """Every case's value and gradients in one program per backend."""
    graph = gc.Graph()
    feed, fetches = {}, []
    with graph.as_default():
        for name, (fn, shapes) in sorted(GRADIENT_CASES.items()):
            xs = [gc.placeholder(gc.float64, s) for s in shapes]
            feed.update(zip(xs, _gradient_values(name, shapes)))
            y = fn(*xs)
            fetches += [y] + gc.gradients(gc.reduce_sum(y * y), xs)
    want = gc.Session(graph, backend="numpy").run(fetches, feed)
    got = gc.Session(graph, backend=backend).run(fetches, feed)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_resize_with_an_unknown_batch(backend):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (None, 5, 7, 3), name="x")
        y = gc.image.resize_bilinear(x, (9, 4), align_corners=True)
        (g,) = gc.gradients(gc.reduce_sum(y), [x])
    got, grad = gc.Session(graph, backend=backend).run([y, g], {x: IMAGES})
    np.testing.assert_allclose(got, _tf_2d(_tf_bilinear_1d, IMAGES, (9, 4),
                                           align_corners=True), rtol=1e-12)
    np.testing.assert_allclose(grad.sum(), 2 * 9 * 4 * 3, rtol=1e-12)  # weights sum to 1


@pytest.mark.parametrize("op_type,attrs,message", [
    ("RoiAlign", {"sampling_ratio": 0}, "sampling_ratio=0"),
    ("Resize", {"mode": "nearest", "antialias": 1}, "antialias=1"),
    ("Resize", {"mode": "linear", "coordinate_transformation_mode": "corner"},
     "coordinate_transformation_mode='corner' is not supported"),
])
def test_onnx_converters_name_what_they_refuse(op_type, attrs, message):
    onnx = pytest.importorskip("onnx")
    from graphc.frontends.onnx import OnnxError, load
    h = onnx.helper
    if op_type == "RoiAlign":
        inputs = [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 4, 4]),
                  h.make_tensor_value_info("rois", onnx.TensorProto.FLOAT, [1, 4]),
                  h.make_tensor_value_info("b", onnx.TensorProto.INT64, [1])]
        init = []
    else:
        inputs = [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 4, 4])]
        init = [h.make_tensor("roi", onnx.TensorProto.FLOAT, [0], []),
                h.make_tensor("scales", onnx.TensorProto.FLOAT, [4], [1, 1, 2, 2])]
    names = [i.name for i in inputs] + [t.name for t in init]
    node = h.make_node(op_type, names, ["y"], name="n1", **attrs)
    model = h.make_model(h.make_graph(
        [node], "g", inputs, [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        initializer=init), opset_imports=[h.make_opsetid("", 19)])
    with pytest.raises(OnnxError, match=f"'n1' \\({op_type}\\).*{message}"):
        load(model)


def test_onnx_resize_reads_scales_from_an_initializer():
    """A float initializer (a graphc variable) as Resize's scales: its initial value
    decides the output shape."""
    onnx = pytest.importorskip("onnx")
    from graphc.frontends.onnx import load
    h = onnx.helper
    scales = np.array([1, 1, 2, 1.5], np.float32)
    model = h.make_model(h.make_graph(
        [h.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear")], "g",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2, 3, 4])],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        initializer=[onnx.numpy_helper.from_array(scales, "scales")]),
        opset_imports=[h.make_opsetid("", 19)])
    graph, inputs, outputs = load(model)
    x = RNG.standard_normal((1, 2, 3, 4)).astype(np.float32)
    got = gc.Session(graph).run(outputs["y"], {inputs["x"]: x})
    want = _onnx_reference("Resize", [x, np.array([], np.float32), scales], mode="linear")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
