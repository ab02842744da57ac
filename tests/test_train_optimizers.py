"""Each optimizer's first 20 updates against a hand-written numpy version of the lecture's
formula, fed the same gradients (the lecture's AdaGrad, RMSProp and Adam are explicit
arguments: graphc's defaults are TF1's, see test_train_tf1.py); plus slots, global_step,
var_list, weight decay, errors."""
import numpy as np
import pytest

import graphc as gc

STEPS = 20


# -- the lecture's update rules, written out in numpy ------------------------------------------
def numpy_sgd(lr):
    def step(x, dx, state, t):
        return x - lr * dx
    return step


def numpy_momentum(lr, rho):
    def step(x, dx, state, t):
        state["v"] = rho * state.get("v", 0.0) + dx          # v = ρv + ∇f
        return x - lr * state["v"]                             # x -= αv
    return step


def numpy_nesterov(lr, rho):
    def step(x, dx, state, t):
        old_v = state.get("v", 0.0)
        state["v"] = rho * old_v - lr * dx                     # v' = ρv − α∇f(x̃)
        return x - rho * old_v + (1 + rho) * state["v"]        # x̃ += −ρv + (1 + ρ)v'
    return step


def numpy_adagrad(lr):
    def step(x, dx, state, t):
        state["g2"] = state.get("g2", 0.0) + dx * dx
        return x - lr * dx / (np.sqrt(state["g2"]) + 1e-7)
    return step


def numpy_rmsprop(lr, decay):
    def step(x, dx, state, t):
        state["g2"] = decay * state.get("g2", 0.0) + (1 - decay) * dx * dx
        return x - lr * dx / (np.sqrt(state["g2"]) + 1e-7)
    return step


def numpy_adam(lr, beta1, beta2):
    def step(x, dx, state, t):
        state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * dx
        state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * dx * dx
        m_hat = state["m"] / (1 - beta1 ** t)
        v_hat = state["v"] / (1 - beta2 ** t)
        return x - lr * m_hat / (np.sqrt(v_hat) + 1e-7)
    return step


def make_sgd():
    return gc.train.GradientDescentOptimizer(0.1)


def make_momentum():
    return gc.train.MomentumOptimizer(0.05, momentum=0.9)


def make_nesterov():
    return gc.train.MomentumOptimizer(0.05, momentum=0.9, use_nesterov=True)


# the lecture's forms of these three are torch.optim's conventions with ε = 1e-7 (TF1's
# defaults are tested in test_train_tf1.py)
def make_adagrad():
    return gc.train.AdagradOptimizer(0.3, initial_accumulator_value=0.0, epsilon=1e-7)


def make_rmsprop():
    return gc.train.RMSPropOptimizer(0.01, decay=0.9, epsilon=1e-7, convention="torch")


def make_adam():
    return gc.train.AdamOptimizer(0.01, beta1=0.9, beta2=0.999, epsilon=1e-7,
                                  convention="torch")


CASES = {
    "sgd": (make_sgd, numpy_sgd(0.1)),
    "momentum": (make_momentum, numpy_momentum(0.05, 0.9)),
    "nesterov": (make_nesterov, numpy_nesterov(0.05, 0.9)),
    "adagrad": (make_adagrad, numpy_adagrad(0.3)),
    "rmsprop": (make_rmsprop, numpy_rmsprop(0.01, 0.9)),
    "adam": (make_adam, numpy_adam(0.01, 0.9, 0.999)),
}


def _fed_gradient_graph(dtype, shape=(4, 3)):
    """loss = Σ x·G with G fed, so ∂loss/∂x is exactly the fed G."""
    g = gc.Graph()
    rng = np.random.default_rng(1)
    with g.as_default():
        x = gc.Variable(rng.standard_normal(shape).astype(dtype), name="x")
        grad = gc.placeholder(dtype, shape, name="grad")
        loss = gc.reduce_sum(x * grad, name="loss")
    return g, x, grad, loss


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_first_20_updates_match_lecture_formula(name, dtype):
    make_opt, numpy_step = CASES[name]
    g, x, grad, loss = _fed_gradient_graph(dtype)
    with g.as_default():
        train = make_opt().minimize(loss)
    sess = gc.Session(g)
    expected = sess.variable_value(x).astype(np.float64)
    rng = np.random.default_rng(7)
    state = {}
    tol = dict(rtol=1e-9, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    for t in range(1, STEPS + 1):
        dx = rng.standard_normal(x.shape).astype(dtype)
        sess.run(train, {grad: dx})
        expected = numpy_step(expected, dx.astype(np.float64), state, t)
        np.testing.assert_allclose(sess.variable_value(x), expected, **tol,
                                   err_msg=f"{name}, update {t}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_updates_follow_gradients_of_a_real_loss(name):
    """Gradients from autodiff on a least-squares loss: ∇ = Aᵀ(Ax − b) at the current x."""
    make_opt, numpy_step = CASES[name]
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 3))
    b = rng.standard_normal(6)
    x0 = rng.standard_normal(3)
    g = gc.Graph()
    with g.as_default():
        x = gc.Variable(x0, name="x", dtype=gc.float64)
        residual = gc.matmul(gc.constant(a), gc.reshape(x, (3, 1))) - gc.constant(b[:, None])
        loss = gc.reduce_sum(gc.square(residual)) * 0.5
        train = make_opt().minimize(loss)
    sess = gc.Session(g)
    expected, state = x0.copy(), {}
    for t in range(1, STEPS + 1):
        sess.run(train)
        expected = numpy_step(expected, a.T @ (a @ expected - b), state, t)
    np.testing.assert_allclose(sess.variable_value(x), expected, rtol=1e-9, atol=1e-12)


def test_nesterov_equals_tf_spelling_for_constant_rate():
    """For a constant α the lecture's Nesterov update and TF1's x -= α(dx + ρ(ρv + dx))
    give the same parameters."""
    lr, rho = 0.05, 0.9
    g, x, grad, loss = _fed_gradient_graph(np.float64)
    with g.as_default():
        train = gc.train.MomentumOptimizer(lr, rho, use_nesterov=True).minimize(loss)
    sess = gc.Session(g)
    expected, v = sess.variable_value(x), 0.0
    rng = np.random.default_rng(0)
    for _ in range(STEPS):
        dx = rng.standard_normal(x.shape)
        sess.run(train, {grad: dx})
        v = rho * v + dx
        expected = expected - lr * (dx + rho * v)
    np.testing.assert_allclose(sess.variable_value(x), expected, rtol=1e-9)


def test_schedule_tensor_as_learning_rate_and_global_step():
    lr0, rate, every = 0.1, 0.5, 4
    g, x, grad, loss = _fed_gradient_graph(np.float64)
    with g.as_default():
        step = gc.train.get_or_create_global_step()
        lr = gc.train.exponential_decay(lr0, step, every, rate, staircase=True)
        train = gc.train.MomentumOptimizer(lr, 0.9).minimize(loss, global_step=step)
    sess = gc.Session(g)
    expected, v = sess.variable_value(x), 0.0
    rng = np.random.default_rng(5)
    for t in range(STEPS):
        dx = rng.standard_normal(x.shape)
        assert sess.run(step) == t
        sess.run(train, {grad: dx})
        alpha = np.float32(lr0 * rate ** (t // every))      # the schedule is float32
        v = 0.9 * v + dx
        expected = expected - alpha * v
    assert sess.run(step) == STEPS
    np.testing.assert_allclose(sess.variable_value(x), expected, rtol=1e-9)


def test_slot_variables_are_named_after_their_variable():
    g = gc.Graph()
    with g.as_default():
        with gc.name_scope("dense"):
            w = gc.Variable(np.ones((2, 2), np.float32), name="W")
        loss = gc.reduce_sum(gc.square(w))
        opt = gc.train.AdamOptimizer(0.1)
        opt.minimize(loss)
    names = [v.name for v in gc.global_variables(g)]
    assert "dense/W/Adam" in names and "dense/W/Adam_1" in names
    assert "Adam/beta1_power" in names and "Adam/beta2_power" in names
    assert opt.get_slot(w, "m").name == "dense/W/Adam"
    assert opt.get_slot_names() == ["m", "v"]
    assert all(v not in gc.trainable_variables(g) for v in opt.variables())
    g2 = gc.Graph()
    with g2.as_default():
        w2 = gc.Variable(np.ones(3, np.float32), name="W")
        m = gc.train.MomentumOptimizer(0.1)
        m.minimize(gc.reduce_sum(w2 * w2))
    assert m.get_slot(w2, "momentum").name == "W/Momentum"


def test_minimize_returns_one_group_op_that_updates_only_var_list():
    g = gc.Graph()
    with g.as_default():
        a = gc.Variable(np.float32(1.0), name="a")
        b = gc.Variable(np.float32(1.0), name="b")
        loss = gc.square(a) + gc.square(b)
        train = gc.train.GradientDescentOptimizer(0.25).minimize(loss, var_list=[b])
    assert train.op.name == "no_op"
    sess = gc.Session(g)
    assert sess.run(train) is None
    assert sess.variable_value(a) == 1.0
    assert sess.variable_value(b) == pytest.approx(0.5)


def test_compute_then_apply_gradients():
    g = gc.Graph()
    with g.as_default():
        a = gc.Variable(np.float32(2.0), name="a")
        c = gc.Variable(np.float32(5.0), name="c")
        loss = gc.square(a)
        opt = gc.train.GradientDescentOptimizer(0.1)
        pairs = opt.compute_gradients(loss, [a, c])
        assert pairs[1] == (None, c)                       # loss does not depend on c
        clipped = [(gc.minimum(gr, 1.0), v) for gr, v in pairs if gr is not None]
        train = opt.apply_gradients(clipped)
    sess = gc.Session(g)
    sess.run(train)
    assert sess.variable_value(a) == pytest.approx(1.9)    # gradient 4 clipped to 1


def test_weight_decay_adds_lambda_x_to_matrices_not_biases():
    lam, lr = 0.1, 0.5
    g = gc.Graph()
    with g.as_default():
        w = gc.Variable(np.full((2, 2), 2.0), name="W", dtype=gc.float64)
        bias = gc.Variable(np.full(2, 2.0), name="b", dtype=gc.float64)
        loss = gc.reduce_sum(w) + gc.reduce_sum(bias)      # gradient 1 everywhere
        train = gc.train.GradientDescentOptimizer(lr, weight_decay=lam).minimize(loss)
    sess = gc.Session(g)
    sess.run(train)
    np.testing.assert_allclose(sess.variable_value(w), 2.0 - lr * (1 + lam * 2.0))
    np.testing.assert_allclose(sess.variable_value(bias), 2.0 - lr * 1.0)


def test_weight_decay_equals_l2_regularizer_in_the_loss():
    lam = 0.3
    results = []
    for decay in (True, False):
        g = gc.Graph()
        with g.as_default():
            w = gc.Variable(np.arange(4.0).reshape(2, 2), name="W", dtype=gc.float64)
            loss = gc.reduce_sum(gc.square(w - 1.0))
            if decay:
                opt = gc.train.MomentumOptimizer(0.1, 0.9, weight_decay=lam)
            else:
                loss = loss + gc.losses.l2_regularizer(lam)(w)
                opt = gc.train.MomentumOptimizer(0.1, 0.9)
            train = opt.minimize(loss)
        sess = gc.Session(g)
        for _ in range(5):
            sess.run(train)
        results.append(sess.variable_value(w))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


def test_no_gradient_for_any_variable_is_a_clear_error():
    g = gc.Graph()
    with g.as_default():
        a = gc.Variable(np.float32(1.0), name="a")
        x = gc.placeholder(gc.float32, (), name="x")
        with pytest.raises(ValueError, match="no gradient for any variable"):
            gc.train.AdamOptimizer().minimize(gc.square(x), var_list=[a])


@pytest.mark.parametrize("bad", [dict(learning_rate=0.0), dict(learning_rate=-1.0)])
def test_bad_hyperparameters_are_refused(bad):
    with pytest.raises(ValueError, match="learning_rate"):
        gc.train.GradientDescentOptimizer(**bad)
    with pytest.raises(ValueError, match="momentum"):
        gc.train.MomentumOptimizer(0.1, momentum=1.5)
    with pytest.raises(ValueError, match="beta2"):
        gc.train.AdamOptimizer(0.1, beta2=1.0)
