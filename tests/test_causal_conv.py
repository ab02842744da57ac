"""gc.nn.causal_conv1d: forward against a numpy reference written step by step, on the
interpreter and the compiled backends; a sequence run in pieces (the state carried)
gives what it gives whole; gradients into input, weights, bias and state against
finite differences in float64; bad shapes and arguments are refused."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir import ShapeError

RNG = np.random.default_rng(5)
B, C, L, K = 2, 3, 6, 4
X = RNG.standard_normal((B, C, L))
W = RNG.standard_normal((C, 1, K))
BIAS = RNG.standard_normal(C)
STATE = RNG.standard_normal((B, C, K - 1))


def _np_causal_conv(x, w, bias=None, state=None, silu=False):
    """(B, C, L) → output and state, one output step and channel at a time."""
    b, c, length = x.shape
    k = w.shape[-1]
    w = w.reshape(c, k)
    history = np.zeros((b, c, k - 1)) if state is None else state
    padded = np.concatenate([history, x], axis=2)
    out = np.zeros_like(x)
    for n, ch, t in np.ndindex(b, c, length):
        y = sum(w[ch, j] * padded[n, ch, t + j] for j in range(k))
        y += 0.0 if bias is None else bias[ch]
        out[n, ch, t] = y / (1 + np.exp(-y)) if silu else y
    return out, padded[:, :, length:]


CASES = {
    "plain": dict(),
    "bias_state_silu": dict(bias=BIAS, state=STATE, activation="silu"),
    "state_swish_2d_weight": dict(state=STATE, activation="swish", weight_2d=True),
    "width_one": dict(bias=BIAS, width=1),
    "nwc_bias_state": dict(bias=BIAS, state=STATE, data_format="NWC"),
}


def _case(x, bias=None, state=None, activation=None, weight_2d=False, width=K,
          data_format="NCW"):
    w = W[:, :, :width]
    s = None if state is None else state[:, :, :width - 1]
    nwc = data_format == "NWC"
    to_layout = (lambda a: np.transpose(a, (0, 2, 1))) if nwc else (lambda a: a)
    out, new_state = gc.nn.causal_conv1d(
        gc.transpose(x, (0, 2, 1)) if nwc else x, w[:, 0] if weight_2d else w, bias,
        None if s is None else to_layout(s), activation, data_format=data_format)
    if nwc:
        out, new_state = gc.transpose(out, (0, 2, 1)), gc.transpose(new_state, (0, 2, 1))
    want = _np_causal_conv(X, w, bias, s, silu=activation is not None)
    return (out, new_state), want


@pytest.mark.parametrize("backend", ["numpy", "llvm", "c"])
def test_causal_conv1d_matches_a_step_by_step_reference(backend):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (None, C, L))
        cases = {name: _case(x, **kw) for name, kw in CASES.items()}
    got = gc.Session(graph, backend=backend).run(
        {name: list(fetch) for name, (fetch, _) in cases.items()}, {x: X})
    for name, (_, want) in cases.items():
        for g, w in zip(got[name], want):
            assert g.shape == w.shape, name
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_sequence_in_pieces_gives_what_it_gives_whole(backend):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float32, (B, C, L))
        whole, _ = gc.nn.causal_conv1d(x, W.astype(np.float32), activation="silu")
        state, pieces = None, []
        for start, stop in [(0, 2), (2, 3), (3, L)]:       # a prompt, then decode steps
            y, state = gc.nn.causal_conv1d(x[:, :, start:stop], W.astype(np.float32),
                                           state=state, activation="silu")
            pieces.append(y)
        stitched = gc.concat(pieces, 2)
    got_whole, got_pieces = gc.Session(graph, backend=backend).run(
        [whole, stitched], {x: X.astype(np.float32)})
    np.testing.assert_allclose(got_pieces, got_whole, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got_whole, _np_causal_conv(X, W, silu=True)[0], rtol=1e-5,
                               atol=1e-5)


def _gradient_graph():
    values = [X[:1, :, :4], W, BIAS, STATE[:1]]
    graph = gc.Graph()
    with graph.as_default():
        xs = [gc.placeholder(gc.float64, a.shape) for a in values]
        out, state = gc.nn.causal_conv1d(xs[0], xs[1], xs[2], xs[3], activation="silu")
        y = out * 1.5 + gc.reduce_sum(state)
    return xs, y, dict(zip(xs, values))


def test_gradients_match_finite_differences():
    xs, y, feed = _gradient_graph()
    pairs = gc.test.compute_gradient(xs, y, feed)
    for theoretical, numerical in pairs:
        assert np.abs(theoretical).max() > 0
        np.testing.assert_allclose(theoretical, numerical, rtol=1e-6, atol=1e-7)


def test_compiled_gradients_match_the_interpreter():
    xs, y, feed = _gradient_graph()
    with y.graph.as_default():
        grads = gc.gradients(gc.reduce_sum(y * y), xs)
    want = gc.Session(y.graph, backend="numpy").run(grads, feed)
    got = gc.Session(y.graph, backend="llvm").run(grads, feed)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-12)


def test_bad_shapes_and_arguments_are_refused(graph):
    x = gc.placeholder(gc.float32, (B, C, L))
    w = W.astype(np.float32)
    with pytest.raises(ShapeError, match="state .* must be the k - 1 = 3 steps"):
        gc.nn.causal_conv1d(x, w, state=np.zeros((B, C, 2), np.float32))
    with pytest.raises(ShapeError, match="weight .* input's channels"):
        gc.nn.causal_conv1d(x, w[:2])
    with pytest.raises(ShapeError, match="weight .* \\(channels, k\\)"):
        gc.nn.causal_conv1d(x, w[0, 0])
    with pytest.raises(ShapeError, match=r"bias .* must be \(3,\)"):
        gc.nn.causal_conv1d(x, w, bias=np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="activation must be None, 'silu' or 'swish'"):
        gc.nn.causal_conv1d(x, w, activation="relu")
    with pytest.raises(ValueError, match="data_format must be 'NCW' or 'NWC'"):
        gc.nn.causal_conv1d(x, w, data_format="NCHW")
    with pytest.raises(gc.GraphcError, match="must be float32 or float64"):
        gc.nn.causal_conv1d(gc.placeholder(gc.int32, (B, C, L)), w)
