"""Every optimizer against TF1's documented update rule with TF1's defaults, written out
independently in numpy, and against torch.optim where the two conventions coincide (or
with `convention="torch"`): ten steps in float64 on every backend, fed the same
gradients."""
import numpy as np
import pytest

import graphc as gc
from backends import ALL

STEPS = 10
SHAPE = (4, 3)


# -- TF1's rules (tf.train.*Optimizer documentation and its training ops), in numpy --------
def tf1_sgd(lr):
    def step(x, g, s, t):
        return x - lr * g
    return step


def tf1_momentum(lr, mu, nesterov=False):
    def step(x, g, s, t):
        s["a"] = mu * s.get("a", 0.0) + g
        return x - (lr * g + lr * mu * s["a"] if nesterov else lr * s["a"])
    return step


def tf1_adagrad(lr, init=0.1):
    def step(x, g, s, t):
        s["a"] = s.get("a", init) + g * g
        return x - lr * g / np.sqrt(s["a"])
    return step


def tf1_adadelta(lr=0.001, rho=0.95, eps=1e-8):
    def step(x, g, s, t):
        s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g * g
        update = np.sqrt(s.get("d", 0.0) + eps) / np.sqrt(s["a"] + eps) * g
        s["d"] = rho * s.get("d", 0.0) + (1 - rho) * update * update
        return x - lr * update
    return step


def tf1_rmsprop(lr, decay=0.9, momentum=0.0, eps=1e-10, centered=False):
    def step(x, g, s, t):
        s["ms"] = decay * s.get("ms", 1.0) + (1 - decay) * g * g
        denom = s["ms"]
        if centered:
            s["mg"] = decay * s.get("mg", 0.0) + (1 - decay) * g
            denom = denom - s["mg"] ** 2
        s["mom"] = momentum * s.get("mom", 0.0) + lr * g / np.sqrt(denom + eps)
        return x - s["mom"]
    return step


def tf1_adam(lr=0.001, b1=0.9, b2=0.999, eps=1e-8, decoupled=0.0):
    def step(x, g, s, t):
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return x - decoupled * x - lr_t * s["m"] / (np.sqrt(s["v"]) + eps)
    return step


def tf1_ftrl(lr, power=-0.5, init=0.1, l1=0.0, l2=0.0):
    def step(x, g, s, t):
        a = s.get("a", init)
        a_new = a + g * g
        s["z"] = s.get("z", 0.0) + g - (a_new ** -power - a ** -power) / lr * x
        s["a"] = a_new
        quadratic = a_new ** -power / lr + 2 * l2
        z = s["z"]
        return np.where(np.abs(z) > l1, (np.sign(z) * l1 - z) / quadratic, 0.0)
    return step


TF1_CASES = {
    "sgd": (lambda: gc.train.GradientDescentOptimizer(0.1), tf1_sgd(0.1)),
    "momentum": (lambda: gc.train.MomentumOptimizer(0.05, 0.9), tf1_momentum(0.05, 0.9)),
    "nesterov": (lambda: gc.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
                 tf1_momentum(0.05, 0.9, nesterov=True)),
    "adagrad": (lambda: gc.train.AdagradOptimizer(0.3), tf1_adagrad(0.3)),
    "adadelta": (lambda: gc.train.AdadeltaOptimizer(), tf1_adadelta()),
    "adadelta-fast": (lambda: gc.train.AdadeltaOptimizer(1.0, rho=0.9, epsilon=1e-6),
                      tf1_adadelta(1.0, 0.9, 1e-6)),
    "rmsprop": (lambda: gc.train.RMSPropOptimizer(0.01), tf1_rmsprop(0.01)),
    "rmsprop-momentum": (lambda: gc.train.RMSPropOptimizer(0.01, momentum=0.8),
                         tf1_rmsprop(0.01, momentum=0.8)),
    "rmsprop-centered": (lambda: gc.train.RMSPropOptimizer(0.01, 0.8, 0.5, 1e-6, True),
                         tf1_rmsprop(0.01, 0.8, 0.5, 1e-6, centered=True)),
    "adam": (lambda: gc.train.AdamOptimizer(0.01), tf1_adam(0.01)),
    "adamw": (lambda: gc.train.AdamWOptimizer(0.02, 0.01), tf1_adam(0.01, decoupled=0.02)),
    "ftrl": (lambda: gc.train.FtrlOptimizer(0.2), tf1_ftrl(0.2)),
    "ftrl-l1-l2": (lambda: gc.train.FtrlOptimizer(0.2, -0.7, 0.5, 0.3, 0.1),
                   tf1_ftrl(0.2, -0.7, 0.5, 0.3, 0.1)),
}


def _fed_gradient_graph(shape=SHAPE):
    """loss = Σ x·G with G fed, so ∂loss/∂x is exactly the fed G."""
    g = gc.Graph()
    with g.as_default():
        x = gc.Variable(np.random.default_rng(1).standard_normal(shape), name="x",
                        dtype=gc.float64)
        grad = gc.placeholder(gc.float64, shape, name="grad")
        loss = gc.reduce_sum(x * grad, name="loss")
    return g, x, grad, loss


def _gradients(n=STEPS, shape=SHAPE):
    """Gradients of mixed scales, some entries tiny, so ε's placement matters."""
    rng = np.random.default_rng(7)
    scale = np.where(rng.random(shape) < 0.3, 1e-5, 1.0)
    return [rng.standard_normal(shape) * scale for _ in range(n)]


def _graphc_run(make_opt, backend):
    """Parameters after each of the ten steps."""
    g, x, grad, loss = _fed_gradient_graph()
    with g.as_default():
        train = make_opt().minimize(loss)
    sess = gc.Session(g, backend=backend)
    trace = []
    for dx in _gradients():
        sess.run(train, {grad: dx})
        trace.append(sess.variable_value(x))
    return trace


def _initial():
    return np.random.default_rng(1).standard_normal(SHAPE)


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("name", sorted(TF1_CASES))
def test_ten_steps_follow_tf1_formula(name, backend):
    make_opt, tf1_step = TF1_CASES[name]
    expected, state = _initial(), {}
    trace = _graphc_run(make_opt, backend)
    for t, (dx, got) in enumerate(zip(_gradients(), trace), start=1):
        expected = tf1_step(expected, dx, state, t)
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-13,
                                   err_msg=f"{name} on {backend}, step {t}")


# -- torch.optim, where its rule is TF1's or selected with convention="torch" --------------
def _torch_case(name):
    """(graphc optimizer factory, torch optimizer factory) for one comparison."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    optim = torch.optim
    cases = {
        "sgd": (lambda: gc.train.GradientDescentOptimizer(0.1), lambda p: optim.SGD(p, 0.1)),
        "momentum": (lambda: gc.train.MomentumOptimizer(0.05, 0.9),
                     lambda p: optim.SGD(p, 0.05, momentum=0.9)),
        "nesterov": (lambda: gc.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
                     lambda p: optim.SGD(p, 0.05, momentum=0.9, nesterov=True)),
        "adagrad": (lambda: gc.train.AdagradOptimizer(0.3),
                    lambda p: optim.Adagrad(p, 0.3, initial_accumulator_value=0.1, eps=0.0)),
        "adagrad-torch": (lambda: gc.train.AdagradOptimizer(0.3, 0.0, epsilon=1e-10),
                          lambda p: optim.Adagrad(p, 0.3)),
        "adadelta": (lambda: gc.train.AdadeltaOptimizer(1.0, rho=0.9, epsilon=1e-6),
                     lambda p: optim.Adadelta(p)),
        "rmsprop-torch": (
            lambda: gc.train.RMSPropOptimizer(0.01, 0.99, epsilon=1e-8, convention="torch"),
            lambda p: optim.RMSprop(p, 0.01)),
        "rmsprop-torch-centered-momentum": (
            lambda: gc.train.RMSPropOptimizer(0.01, 0.9, 0.5, 1e-8, centered=True,
                                              convention="torch"),
            lambda p: optim.RMSprop(p, 0.01, alpha=0.9, momentum=0.5, centered=True)),
        "adam-torch": (lambda: gc.train.AdamOptimizer(0.01, convention="torch"),
                       lambda p: optim.Adam(p, 0.01)),
        "adamw-torch": (lambda: gc.train.AdamWOptimizer(0.01, 0.01, convention="torch"),
                        lambda p: optim.AdamW(p, 0.01, weight_decay=0.01)),
    }
    return torch, cases[name]


TORCH_CASES = ["adadelta", "adagrad", "adagrad-torch", "adam-torch", "adamw-torch",
               "momentum", "nesterov", "rmsprop-torch", "rmsprop-torch-centered-momentum",
               "sgd"]


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("name", TORCH_CASES)
def test_ten_steps_match_torch_optim(name, backend):
    torch, (make_opt, make_torch) = _torch_case(name)
    param = torch.nn.Parameter(torch.tensor(_initial(), dtype=torch.float64))
    opt = make_torch([param])
    trace = _graphc_run(make_opt, backend)
    for t, (dx, got) in enumerate(zip(_gradients(), trace), start=1):
        param.grad = torch.tensor(dx, dtype=torch.float64)
        opt.step()
        np.testing.assert_allclose(got, param.detach().numpy(), rtol=1e-11, atol=1e-13,
                                   err_msg=f"{name} on {backend}, step {t}")


def test_tf1_and_torch_adam_differ_where_sqrt_v_is_near_epsilon():
    """The conventions are not the same rule: with gradients around ε they part."""
    results = []
    for convention in ("tf1", "torch"):
        g, x, grad, loss = _fed_gradient_graph()
        with g.as_default():
            train = gc.train.AdamOptimizer(0.1, epsilon=1e-3,
                                           convention=convention).minimize(loss)
        sess = gc.Session(g, backend="numpy")
        for _ in range(3):
            sess.run(train, {grad: np.full(SHAPE, 1e-3)})
        results.append(sess.variable_value(x))
    assert np.abs(results[0] - results[1]).max() > 1e-3


def test_tf1_defaults():
    """The documented defaults, by value."""
    t = gc.train
    assert t.AdamOptimizer().epsilon == 1e-8 and t.AdamOptimizer().learning_rate == 0.001
    rms = t.RMSPropOptimizer(0.1)
    assert (rms.decay, rms.momentum, rms.epsilon, rms.centered) == (0.9, 0.0, 1e-10, False)
    assert t.AdagradOptimizer(0.1).initial_accumulator_value == 0.1
    ada = t.AdadeltaOptimizer()
    assert (ada.learning_rate, ada.rho, ada.epsilon) == (0.001, 0.95, 1e-8)
    ftrl = t.FtrlOptimizer(0.1)
    assert (ftrl.learning_rate_power, ftrl.initial_accumulator_value, ftrl.l1, ftrl.l2) == \
        (-0.5, 0.1, 0.0, 0.0)


def test_slot_names_are_tf1s():
    g, x, grad, loss = _fed_gradient_graph()
    with g.as_default():
        rms = gc.train.RMSPropOptimizer(0.1, momentum=0.9, centered=True)
        rms.minimize(loss)
        ada = gc.train.AdadeltaOptimizer()
        ada.minimize(loss)
        ftrl = gc.train.FtrlOptimizer(0.1)
        ftrl.minimize(loss)
    assert [rms.get_slot(x, s).name for s in ("rms", "mg", "momentum")] == \
        ["x/RMSProp", "x/RMSProp_1", "x/RMSProp_2"]
    assert [ada.get_slot(x, s).name for s in ("accum", "accum_update")] == \
        ["x/Adadelta", "x/Adadelta_1"]
    assert [ftrl.get_slot(x, s).name for s in ("accum", "linear")] == ["x/Ftrl", "x/Ftrl_1"]
    np.testing.assert_array_equal(gc.Session(g).variable_value(rms.get_slot(x, "rms")), 1.0)


def test_adamw_decays_every_variable_unless_told_and_skips_the_moments():
    """x -= λ·x + Adam's step: with a zero gradient Adam's step is 0, so only λ·x moves
    x; decay_var_list (given to minimize, as TF's AdamWOptimizer takes it) limits it."""
    g = gc.Graph()
    with g.as_default():
        w = gc.Variable(np.full((2, 2), 2.0), name="W", dtype=gc.float64)
        b = gc.Variable(np.full(2, 2.0), name="b", dtype=gc.float64)
        loss = gc.reduce_sum(w * 0.0) + gc.reduce_sum(b * 0.0)
        opt = gc.train.AdamWOptimizer(0.1, 0.5)
        train = opt.minimize(loss)
        only_w = gc.train.AdamWOptimizer(0.1, 0.5, name="AdamW2").minimize(
            loss, decay_var_list=[w])
    sess = gc.Session(g)
    sess.run(train)
    np.testing.assert_allclose(sess.variable_value(w), 2.0 * 0.9)
    np.testing.assert_allclose(sess.variable_value(b), 2.0 * 0.9)
    np.testing.assert_array_equal(sess.variable_value(opt.get_slot(w, "v")), 0.0)
    sess.run(only_w)
    np.testing.assert_allclose(sess.variable_value(w), 2.0 * 0.9 * 0.9)
    np.testing.assert_allclose(sess.variable_value(b), 2.0 * 0.9)


@pytest.mark.parametrize("bad, match", [
    (lambda: gc.train.RMSPropOptimizer(0.1, convention="keras"), "convention"),
    (lambda: gc.train.AdagradOptimizer(0.1, initial_accumulator_value=0.0), "initial_acc"),
    (lambda: gc.train.FtrlOptimizer(0.1, learning_rate_power=0.5), "learning_rate_power"),
    (lambda: gc.train.FtrlOptimizer(0.1, l1_regularization_strength=-1), "l1_regul"),
    (lambda: gc.train.AdadeltaOptimizer(rho=1.0), "rho"),
])
def test_bad_hyperparameters_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()
