"""gc.nn.attention / scaled_dot_product_attention (score and probability modifiers too) and
rotary_embedding: forward against a numpy reference written out loop by loop (every head
and query row on its own), on the interpreter and the compiled backends; gradients
against finite differences in float64."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir import ShapeError
from backends import assert_gradients_match_the_interpreter

RNG = np.random.default_rng(11)
B, HQ, HK, SQ, P, SNEW, D, DV = 2, 4, 2, 3, 2, 4, 5, 3
SKV = P + SNEW
Q = RNG.standard_normal((B, HQ, SQ, D))
K = RNG.standard_normal((B, HK, SNEW, D))
V = RNG.standard_normal((B, HK, SNEW, DV))
PK = RNG.standard_normal((B, HK, P, D))
PV = RNG.standard_normal((B, HK, P, DV))
FLOAT_MASK = RNG.standard_normal((SQ, SKV))
BOOL_MASK = RNG.uniform(size=(B, 1, SQ, SKV - 1)) > 0.3     # one key short: padded
BOOL_MASK[1, 0, 2] = False                                   # a row that reads nothing
LENGTHS = np.array([SKV - 1, 2])


def _np_attention(q, k, v, bias=None, allowed=None, scale=None, softcap=None):
    """Row by row: scores of query row (b, h, i) against key head h // groups; keys
    with allowed False get weight 0; a row with no allowed key gives 0."""
    groups = q.shape[1] // k.shape[1]
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    out = np.zeros(q.shape[:3] + (v.shape[-1],))
    weights = np.zeros(q.shape[:3] + (k.shape[2],))
    for b, h, i in np.ndindex(*q.shape[:3]):
        kh = h // groups
        s = k[b, kh] @ q[b, h, i] * scale
        if softcap:
            s = softcap * np.tanh(s / softcap)
        if bias is not None:
            s = s + bias[b, h, i]
        ok = np.ones(k.shape[2], bool) if allowed is None else allowed[b, h, i]
        if not ok.any():
            continue
        e = np.where(ok, np.exp(s - s[ok].max()), 0.0)
        weights[b, h, i] = e / e.sum()
        out[b, h, i] = weights[b, h, i] @ v[b, kh]
    return out, weights


def _positions(offset):
    """(B, HQ, SQ, SKV) arrays of i + offset[b] − j."""
    i = np.arange(SQ)[None, None, :, None]
    j = np.arange(SKV)[None, None, None, :]
    return np.broadcast_to(i + np.reshape(offset, (-1, 1, 1, 1)) - j, (B, HQ, SQ, SKV))


def _cases(q, k, v, pk, pv, fmask, bmask, lengths):
    kk, vv = np.concatenate([PK, K], 2), np.concatenate([PV, V], 2)
    full = (B, HQ, SQ, SKV)
    bool_allowed = np.broadcast_to(np.pad(BOOL_MASK, [(0, 0)] * 3 + [(0, 1)]), full)
    causal_past = _positions(np.full(B, P)) >= 0
    len_offset = _positions(LENGTHS - SQ)
    padded = np.broadcast_to(np.arange(SKV) < LENGTHS[:, None, None, None], full)
    cached = gc.nn.attention(q, k, v, softcap=2.0, past_key=pk, past_value=pv)
    return {
        "plain_gqa": (gc.nn.scaled_dot_product_attention(q, k, v),
                      _np_attention(Q, K, V)[0]),
        "causal_top_left_softcap_scale": (
            gc.nn.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7,
                                               softcap=1.5),
            _np_attention(Q, K, V, scale=0.7, softcap=1.5,
                          allowed=_positions(np.zeros(B))[..., :SNEW] >= 0)[0]),
        "past_causal_float_mask": (
            gc.nn.attention(q, k, v, fmask, is_causal=True, past_key=pk, past_value=pv)
            .output,
            _np_attention(Q, kk, vv, bias=np.broadcast_to(FLOAT_MASK, full),
                          allowed=causal_past)[0]),
        "bool_mask_short_fully_masked_row": (
            gc.nn.attention(q, k, v, bmask, past_key=pk, past_value=pv).weights,
            _np_attention(Q, kk, vv, allowed=bool_allowed)[1]),
        "window_past": (
            gc.nn.attention(q, k, v, window=(1, 1), past_key=pk, past_value=pv).output,
            _np_attention(Q, kk, vv, allowed=np.abs(_positions(np.full(B, P))) <= 1)[0]),
        "kv_lengths_causal_window": (
            gc.nn.scaled_dot_product_attention(
                q, gc.concat([pk, k], 2), gc.concat([pv, v], 2), is_causal=True,
                window=(2, None), kv_lengths=lengths),
            _np_attention(Q, kk, vv, allowed=(len_offset >= 0) & (len_offset <= 2)
                          & padded)[0]),
        "score_and_prob_mod": (
            gc.nn.attention(q, k, v, score_mod=lambda s: gc.tanh(s * 0.5) * 2.0,
                            prob_mod=lambda p: p * 0.5).output,
            _np_attention(Q, K, V, softcap=2.0)[0] * 0.5),
        "present_key": (cached.present_key, kk),
        "present_value": (cached.present_value, vv),
        "softcapped_scores": (cached.scores, 2 * np.tanh(np.einsum(
            "bhqd,bhkd->bhqk", Q, np.repeat(kk, 2, 1)) / np.sqrt(D) / 2)),
    }


def _graph(dtype):
    graph = gc.Graph()
    arrays = [Q, K, V, PK, PV, FLOAT_MASK]
    with graph.as_default():
        feeds = [gc.placeholder(dtype, a.shape) for a in arrays]
        bmask = gc.placeholder(gc.bool_, BOOL_MASK.shape)
        lengths = gc.placeholder(gc.int64, (B,))
        cases = _cases(*feeds, bmask, lengths)
    feed = dict(zip(feeds, arrays))
    feed.update({bmask: BOOL_MASK, lengths: LENGTHS})
    return graph, cases, feed


@pytest.mark.parametrize("backend", ["numpy", "llvm", "c"])
def test_attention_matches_a_row_by_row_reference(backend):
    graph, cases, feed = _graph(gc.float64)
    got = gc.Session(graph, backend=backend).run({k: t for k, (t, _) in cases.items()}, feed)
    for key, (_, want) in cases.items():
        np.testing.assert_allclose(got[key], want, rtol=1e-12, atol=1e-12, err_msg=key)


def test_attention_in_float32_on_llvm():
    graph, cases, feed = _graph(gc.float32)
    got = gc.Session(graph, backend="llvm").run({k: t for k, (t, _) in cases.items()}, feed)
    for key, (_, want) in cases.items():
        np.testing.assert_allclose(got[key], want, rtol=2e-5, atol=2e-6, err_msg=key)


def _np_rotary(x, cos, sin, interleaved, rotary_dim):
    y = x.copy()
    for pair in range(rotary_dim // 2):
        a, b = (2 * pair, 2 * pair + 1) if interleaved else (pair, pair + rotary_dim // 2)
        c, s = cos[..., pair], sin[..., pair]
        y[..., a] = x[..., a] * c - x[..., b] * s
        y[..., b] = x[..., a] * s + x[..., b] * c
    return y


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("rotary_dim", [None, 4])
def test_rotary_embedding_rotates_pairs(backend, interleaved, rotary_dim):
    x = RNG.standard_normal((2, 3, 5, 6))                       # (B, H, S, D)
    angles = RNG.uniform(-3, 3, (2, 1, 5, (rotary_dim or 6) // 2))
    graph = gc.Graph()
    with graph.as_default():
        xs = gc.placeholder(gc.float64, (None, 3, 5, 6))
        y = gc.nn.rotary_embedding(xs, np.cos(angles), np.sin(angles), interleaved,
                                   rotary_dim)
    got = gc.Session(graph, backend=backend).run(y, {xs: x})
    want = _np_rotary(x, np.cos(angles), np.sin(angles), interleaved, rotary_dim or 6)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


GRADIENT_CASES = {
    "gqa_causal_softcap": lambda q, k, v, m: gc.nn.scaled_dot_product_attention(
        q, k, v, is_causal=True, softcap=1.5),
    "float_mask_past": lambda q, k, v, m: gc.nn.attention(
        q, k[:, :, 1:], v[:, :, 1:], m, past_key=k[:, :, :1], past_value=v[:, :, :1]).output,
    "fully_masked_row_window": lambda q, k, v, m: gc.nn.scaled_dot_product_attention(
        q, k, v, gc.constant(np.array([[True] * 4, [False] * 4, [True] * 4])),
        window=(0, 2)),
    "score_mod_prob_mod": lambda q, k, v, m: gc.nn.attention(
        q, k, v, score_mod=lambda s: s + m, prob_mod=lambda p: p * p).output,
    "rotary_interleaved": lambda q, k, v, m: gc.nn.rotary_embedding(
        q, np.cos(np.arange(3.0))[:, None], np.sin(np.arange(3.0))[:, None],
        interleaved=True, rotary_dim=2),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradient_matches_finite_differences(name):
    rng = np.random.default_rng(len(name))
    values = [rng.standard_normal(s) for s in [(1, 2, 3, 2), (1, 1, 4, 2), (1, 1, 4, 2),
                                               (3, 4)]]
    assert_gradients_match_the_interpreter(GRADIENT_CASES, "llvm", values, square=True)


def test_bad_heads_and_masks_are_refused(graph):
    q = gc.placeholder(gc.float32, (1, 3, 2, 4))
    k = gc.placeholder(gc.float32, (1, 2, 2, 4))
    with pytest.raises(ShapeError, match="3 query heads .* not a multiple of 2"):
        gc.nn.scaled_dot_product_attention(q, k, k)
    with pytest.raises(gc.GraphcError, match="attn_mask must be bool or float32"):
        gc.nn.scaled_dot_product_attention(q, q, q, gc.constant(np.zeros((2, 2), np.int32)))
    with pytest.raises(ShapeError, match="score_mod turned .* it must keep the shape"):
        gc.nn.attention(q, q, q, score_mod=lambda s: gc.reduce_sum(s, -1))
    with pytest.raises(ShapeError, match="rotary_dim 3 must be even"):
        gc.nn.rotary_embedding(q, 1.0, 0.0, rotary_dim=3)


def _np_linear_attention(q, k, v, state, decay, beta, scale):
    """Step by step, one (batch, key head) state at a time."""
    groups = q.shape[1] // k.shape[1]
    out = np.zeros(q.shape[:3] + (v.shape[-1],))
    state = np.array(np.broadcast_to(state, k.shape[:2] + (k.shape[-1], v.shape[-1])))
    for b, h, t in np.ndindex(*k.shape[:3]):
        s = state[b, h]
        if decay is not None:
            s *= np.exp(np.broadcast_to(decay[b, h, t], k.shape[-1:]))[:, None]
        v_t = v[b, h, t]
        if beta is not None:
            v_t = beta[b, min(h, beta.shape[1] - 1), t, 0] * (v_t - s.T @ k[b, h, t])
        s += np.outer(k[b, h, t], v_t)
        for g in range(groups):
            out[b, h * groups + g, t] = scale * s.T @ q[b, h * groups + g, t]
    return out, state


LQ, LK, LV = (RNG.standard_normal(s) for s in [(2, 4, 3, 5), (2, 2, 3, 5), (2, 2, 3, 4)])
LS0 = RNG.standard_normal((2, 2, 5, 4))
DECAY = -RNG.uniform(0, 1, (2, 2, 3, 5))
HEAD_DECAY = -RNG.uniform(0, 1, (2, 2, 3, 1))
BETA = RNG.uniform(0, 1, (2, 1, 3, 1))


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("rule", ["linear", "gated", "delta", "gated_delta_past"])
def test_linear_attention_matches_a_step_by_step_reference(backend, rule):
    decay = {"gated": HEAD_DECAY, "gated_delta_past": DECAY}.get(rule)
    beta = BETA if "delta" in rule else None
    state = LS0 if "past" in rule else np.zeros(1)
    graph = gc.Graph()
    with graph.as_default():
        q, k, v = (gc.placeholder(gc.float64, (None,) + a.shape[1:]) for a in (LQ, LK, LV))
        out, final = gc.nn.linear_attention(
            q, k, v, LS0 if "past" in rule else None, decay, beta,
            scale=0.5 if rule == "delta" else None)
    got = gc.Session(graph, backend=backend).run([out, final], {q: LQ, k: LK, v: LV})
    want = _np_linear_attention(LQ, LK, LV, state, decay, beta,
                                0.5 if rule == "delta" else 1 / np.sqrt(5))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_linear_attention_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    values = [rng.standard_normal(s) for s in [(1, 2, 3, 2), (1, 1, 3, 2), (1, 1, 3, 2),
                                               (1, 1, 2, 2)]]
    values += [-rng.uniform(0, 1, (1, 1, 3, 2)), rng.uniform(0, 1, (1, 1, 3, 1))]
    graph = gc.Graph()
    with graph.as_default():
        xs = [gc.placeholder(gc.float64, a.shape) for a in values]
        out, state = gc.nn.linear_attention(*xs[:3], xs[3], xs[4], xs[5])
        y = gc.concat([gc.reshape(out, [-1]), gc.reshape(state, [-1])], 0)
    pairs = gc.test.compute_gradient(xs, y, dict(zip(xs, values)))
    for theoretical, numerical in pairs:
        np.testing.assert_allclose(theoretical, numerical, rtol=1e-6, atol=1e-7)
    assert all(np.abs(t).max() > 0 for t, _ in pairs)
