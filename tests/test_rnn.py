"""gc.nn.rnn_cell's cells unrolled by gc.nn.static_rnn / static_bidirectional_rnn, and
gc.reverse_sequence: forward against numpy written from TF1's / Keras's equations on
the numpy and llvm backends, gradients (backpropagation through the unrolled steps)
against central finite differences in float64."""
import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(7)
T, B, I, H = 4, 3, 2, 3
BACKENDS = ("numpy", "llvm")


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_rnn(kind, xs, w, h, c=None, lengths=None, reverse=False, peep=None,
           forget_bias=1.0, reset_after=False):
    """Reference unroll: (outputs, final state) for TF1's semantics."""
    lengths = np.full(xs.shape[1], len(xs)) if lengths is None else lengths
    order = range(len(xs))
    outs = np.zeros(xs.shape[:2] + (H,))
    for b in range(xs.shape[1]):
        hb, cb = h[b].copy(), None if c is None else c[b].copy()
        steps = list(order)[:lengths[b]]
        for t in (steps[::-1] if reverse else steps):
            x = xs[t, b] @ w["kernel"] + w["bias"]
            if kind == "rnn":
                hb = np.tanh(x + hb @ w["recurrent"])
            elif kind == "lstm":
                i, j, f, o = np.split(x + hb @ w["recurrent"], 4)
                p = np.zeros((3, H)) if peep is None else peep
                i = sigmoid(i + p[0] * cb)
                f = sigmoid(f + forget_bias + p[1] * cb)
                cb = f * cb + i * np.tanh(j)
                o = sigmoid(o + p[2] * cb)
                hb = o * np.tanh(cb)
            else:
                r_all = hb @ w["recurrent"] + w["recurrent_bias"]
                xz, xr, xh = np.split(x, 3)
                rz, rr, rh = np.split(r_all, 3)
                z, r = sigmoid(xz + rz), sigmoid(xr + rr)
                if reset_after:
                    hh = np.tanh(xh + r * rh)
                else:
                    hh = np.tanh(xh + (r * hb) @ w["recurrent"][:, 2 * H:]
                                 + w["recurrent_bias"][2 * H:])
                hb = z * hb + (1 - z) * hh
            outs[t, b] = hb
        h[b] = hb
        if c is not None:
            c[b] = cb
    return outs, h, c


def _weights(gates):
    return {"kernel": RNG.standard_normal((I, gates * H)) * 0.6,
            "recurrent": RNG.standard_normal((H, gates * H)) * 0.6,
            "bias": RNG.standard_normal(gates * H) * 0.3,
            "recurrent_bias": RNG.standard_normal(gates * H) * 0.3}


def _cell(kind, w, **kwargs):
    weights = gc.nn.rnn_cell.RNNWeights(
        gc.Variable(w["kernel"], name="kernel"), gc.Variable(w["recurrent"], name="recurrent"),
        gc.Variable(w["bias"], name="bias"),
        gc.Variable(w["recurrent_bias"], name="recurrent_bias") if kind == "gru" else None,
        gc.Variable(kwargs.pop("peep"), name="peep") if "peep" in kwargs else None)
    make = {"rnn": gc.nn.rnn_cell.BasicRNNCell, "lstm": gc.nn.rnn_cell.LSTMCell,
            "gru": gc.nn.rnn_cell.GRUCell}[kind]
    return make(H, weights=weights, dtype=gc.float64, **kwargs)


CASES = {
    "rnn": ("rnn", {}, {}),
    "lstm": ("lstm", {}, {}),
    "lstm_peepholes": ("lstm", {"peep": RNG.standard_normal((3, H))}, {}),
    "gru": ("gru", {}, {}),
    "gru_reset_after": ("gru", {"reset_after": True}, {"reset_after": True}),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_static_rnn_matches_numpy(case, reverse, backend):
    kind, cell_kwargs, np_kwargs = CASES[case]
    w = _weights({"rnn": 1, "lstm": 4, "gru": 3}[kind])
    xs = RNG.standard_normal((T, B, I))
    h0, c0 = RNG.standard_normal((B, H)), RNG.standard_normal((B, H))
    lengths = np.array([4, 1, 2], np.int32)
    g = gc.Graph()
    with g.as_default():
        cell = _cell(kind, w, **dict(cell_kwargs))
        x = gc.placeholder(gc.float64, (T, B, I))
        state = gc.nn.rnn_cell.LSTMStateTuple(gc.constant(c0), gc.constant(h0)) \
            if kind == "lstm" else gc.constant(h0)
        outs, final = gc.nn.static_rnn(cell, gc.unstack(x), state,
                                       sequence_length=gc.constant(lengths), reverse=reverse)
        fetches = [gc.stack(outs)] + (list(final) if kind == "lstm" else [final])
        got = gc.Session(g, backend=backend).run(fetches, {x: xs})
    want_out, want_h, want_c = np_rnn(kind, xs, w, h0.copy(), c0.copy() if kind == "lstm"
                                      else None, lengths, reverse,
                                      peep=cell_kwargs.get("peep"), **np_kwargs)
    np.testing.assert_allclose(got[0], want_out, rtol=1e-10, atol=1e-12)
    if kind == "lstm":
        np.testing.assert_allclose(got[1], want_c, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[-1], want_h, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gradients_through_the_unrolled_cell(kind):
    """Backpropagation through time: the symbolic gradient of a small LSTM / GRU against
    central finite differences, w.r.t. the inputs and every weight."""
    w = _weights({"lstm": 4, "gru": 3}[kind])
    g = gc.Graph()
    with g.as_default():
        cell = _cell(kind, w, **({"peep": RNG.standard_normal((3, H)), "use_peepholes": True}
                                 if kind == "lstm" else {"reset_after": True}))
        x = gc.placeholder(gc.float64, (3, 2, I))
        outs, _ = gc.nn.static_rnn(cell, gc.unstack(x), sequence_length=gc.constant(
            np.array([3, 2], np.int32)))
        y = gc.stack(outs) * gc.constant(RNG.standard_normal((3, 2, H)))
        ws = cell.weights
        xs = [x, ws.kernel, ws.recurrent_kernel, ws.bias] + \
            [v for v in (ws.recurrent_bias, ws.peepholes) if v is not None]
        err = gc.test.compute_gradient_error(xs, y, {x: RNG.standard_normal((3, 2, I))})
    assert err < 1e-7


@pytest.mark.parametrize("backend", ["llvm", "c"])
def test_bidirectional_concatenates_both_directions(backend):
    wf, wb = _weights(4), _weights(4)
    xs = RNG.standard_normal((T, B, I))
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float64, (T, B, I))
        outs, fw, bw = gc.nn.static_bidirectional_rnn(_cell("lstm", wf), _cell("lstm", wb),
                                                      gc.unstack(x))
        got = gc.Session(g, backend=backend).run([gc.stack(outs), fw.h, bw.h], {x: xs})
    zeros = np.zeros((B, H))
    f_out, f_h, _ = np_rnn("lstm", xs, wf, zeros.copy(), zeros.copy())
    b_out, b_h, _ = np_rnn("lstm", xs, wb, zeros.copy(), zeros.copy(), reverse=True)
    np.testing.assert_allclose(got[0], np.concatenate([f_out, b_out], -1), rtol=1e-10)
    np.testing.assert_allclose(got[1], f_h, rtol=1e-10)
    np.testing.assert_allclose(got[2], b_h, rtol=1e-10)


def test_cells_make_their_variables_once():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 5))
        cell = gc.nn.rnn_cell.LSTMCell(4, use_peepholes=True, seed=3)
        outs, state = gc.nn.static_rnn(cell, [x, x * 2.0, x * 3.0])
        assert outs[0].shape == (None, 4) and state.c.shape == (None, 4)
        names = sorted(v.name for v in gc.trainable_variables())
        assert names == [f"rnn/lstm_cell/{n}" for n in ("bias", "kernel", "peepholes",
                                                        "recurrent_kernel")]   # TF1's
        loss = gc.reduce_sum(gc.square(outs[-1]))
        train = gc.train.GradientDescentOptimizer(0.1).minimize(loss)
        sess = gc.Session(g, backend="llvm")
        feed = {x: RNG.standard_normal((2, 5)).astype(np.float32)}
        before = sess.run(loss, feed)
        for _ in range(5):
            sess.run(train, feed)
        assert sess.run(loss, feed) < before


def test_cell_needs_a_known_input_depth():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (2, None))
        with pytest.raises(gc.ShapeError, match="input depth"):
            gc.nn.static_rnn(gc.nn.rnn_cell.GRUCell(3), [x])


@pytest.mark.parametrize("backend", BACKENDS)
def test_reverse_sequence_matches_numpy_with_run_time_lengths(backend):
    x = RNG.standard_normal((2, 5, 3))             # batch axis 0, sequence axis 1
    lengths = np.array([3, 5], np.int64)
    want = x.copy()
    for b, n in enumerate(lengths):
        want[b, :n] = x[b, :n][::-1]
    g = gc.Graph()
    with g.as_default():
        xp = gc.placeholder(gc.float64, x.shape)
        lp = gc.placeholder(gc.int64, (2,))
        y = gc.reverse_sequence(xp, lp, seq_axis=1, batch_axis=0)
        got = gc.Session(g, backend=backend).run(y, {xp: x, lp: lengths})
        np.testing.assert_array_equal(got, want)
        err = gc.test.compute_gradient_error(xp, y * gc.constant(
            RNG.standard_normal(x.shape)), {xp: x, lp: lengths})
    assert err < 1e-8
