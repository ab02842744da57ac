"""A TF1 training program written as TF1 users write it (only the import line differs):
compute_gradients, clip_by_global_norm, apply_gradients with a global step and a staircase
schedule, an exponential moving average after the train op, Saver and
latest_checkpoint. Its numbers are checked against the same training written out in
numpy from TF1's documented formulas."""
import numpy as np
import pytest

from backends import ALL

RNG = np.random.default_rng(11)
X = RNG.standard_normal((16, 3))
Y = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.1 * RNG.standard_normal((16, 1))
W0 = RNG.standard_normal((3, 1)) * 0.1
STEPS = 10


def tf1_program(backend, checkpoint_dir):
    import graphc as tf                                  # import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, [None, 3], name="x")
        y = tf.placeholder(tf.float64, [None, 1], name="y")
        with tf.name_scope("model"):
            W = tf.Variable(W0, name="W")
            b = tf.Variable(np.zeros(1), name="b")
            pred = tf.matmul(x, W) + b
        loss = tf.reduce_mean(tf.square(pred - y))

        global_step = tf.train.get_or_create_global_step()
        learning_rate = tf.train.exponential_decay(0.1, global_step, 4, 0.5, staircase=True)
        optimizer = tf.train.AdamOptimizer(learning_rate)
        grads_and_vars = optimizer.compute_gradients(loss)
        grads, variables = zip(*grads_and_vars)
        clipped, grad_norm = tf.clip_by_global_norm(grads, 3.0)
        train_op = optimizer.apply_gradients(zip(clipped, variables), global_step=global_step)

        ema = tf.train.ExponentialMovingAverage(0.9, num_updates=global_step)
        with tf.control_dependencies([train_op]):
            train_op = ema.apply(variables)
        saver = tf.train.Saver()

    sess = tf.Session(graph=graph, backend=backend)
    losses, norms = [], []
    for _ in range(STEPS):
        _, loss_value, norm = sess.run([train_op, loss, grad_norm], feed_dict={x: X, y: Y})
        losses.append(loss_value)
        norms.append(norm)
    saver.save(sess, f"{checkpoint_dir}/model.ckpt", global_step=global_step)

    restored = tf.Session(graph=graph, backend=backend)
    saver.restore(restored, tf.train.latest_checkpoint(checkpoint_dir))
    return {"losses": losses, "norms": norms,
            "W": restored.run(W), "b": restored.run(b),
            "W_average": restored.run(ema.average(W)),
            "step": tf.train.global_step(restored, global_step)}


def numpy_training():
    """The same steps from TF1's formulas: MSE gradient, global-norm clipping, Adam with
    TF1's ε̂, the staircase rate, then the average of the updated values."""
    params = {"W": W0.copy(), "b": np.zeros(1)}
    m = {k: 0.0 for k in params}
    v = {k: 0.0 for k in params}
    average = {k: p.copy() for k, p in params.items()}
    losses, norms = [], []
    for t in range(1, STEPS + 1):
        residual = X @ params["W"] + params["b"] - Y
        losses.append(np.mean(residual ** 2))
        d_pred = 2 * residual / residual.size
        grads = {"W": X.T @ d_pred, "b": d_pred.sum(axis=0)}
        norm = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
        norms.append(norm)
        grads = {k: g * 3.0 / max(norm, 3.0) for k, g in grads.items()}
        lr = float(np.float32(0.1 * 0.5 ** ((t - 1) // 4)))       # a float32 schedule
        lr_t = lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        decay = min(0.9, (1 + t) / (10 + t))                       # num_updates after step t
        for k, g in grads.items():
            m[k] = 0.9 * m[k] + 0.1 * g
            v[k] = 0.999 * v[k] + 0.001 * g * g
            params[k] = params[k] - lr_t * m[k] / (np.sqrt(v[k]) + 1e-8)
            average[k] = average[k] - (1 - decay) * (average[k] - params[k])
    return {"losses": losses, "norms": norms, "W": params["W"], "b": params["b"],
            "W_average": average["W"], "step": STEPS}


@pytest.mark.parametrize("backend", ALL)
def test_tf1_program_trains_as_tf1_would(backend, tmp_path):
    got, want = tf1_program(backend, tmp_path), numpy_training()
    assert got["step"] == want["step"]
    assert want["norms"][0] > 3.0 > want["norms"][-1]      # clipping acted, then did not
    for key in ("losses", "norms", "W", "b", "W_average"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-11, atol=1e-14, err_msg=key)
