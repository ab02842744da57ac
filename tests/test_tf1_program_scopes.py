"""A complete TF1 program as TF1 users write it, unchanged but for the import line: an
MLP whose layers are variable_scopes of get_variable (TF1's initializer objects, a
reused scope), global_variables_initializer, compute_gradients, clip_by_global_norm,
apply_gradients with the global step, a polynomial_decay schedule, Momentum, Saver and
latest_checkpoint to resume in a new session. On every backend, its numbers are checked
against the same training written out in numpy from TF1's documented formulas."""
import numpy as np
import pytest

from backends import ALL

RNG = np.random.default_rng(2022)
X = RNG.standard_normal((16, 4))
LABELS = RNG.integers(0, 3, 16)
INITIAL = {"hidden": RNG.standard_normal((4, 8)) * 0.5, "logits": RNG.standard_normal((8, 3))}
STEPS, SAVE_AT, CLIP = 12, 5, 0.8


def tf1_program(backend, checkpoint_dir):
    import graphc as tf                                  # import tensorflow as tf

    def dense(inputs, n_in, n_out, name, activation=None):
        with tf.variable_scope(name):
            weights = tf.get_variable("weights", [n_in, n_out], dtype=tf.float64,
                                      initializer=tf.constant_initializer(INITIAL[name]))
            biases = tf.get_variable("biases", [n_out], dtype=tf.float64,
                                     initializer=tf.zeros_initializer())
            outputs = tf.matmul(inputs, weights) + biases
            return outputs if activation is None else activation(outputs)

    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, [None, 4], name="x")
        labels = tf.placeholder(tf.int32, [None], name="labels")
        with tf.variable_scope("mlp"):
            hidden = dense(x, 4, 8, "hidden", tf.nn.tanh)
            logits = dense(hidden, 8, 3, "logits")
        with tf.variable_scope("mlp", reuse=True):
            shared = tf.get_variable("hidden/weights", [4, 8], dtype=tf.float64)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits))

        global_step = tf.train.get_or_create_global_step()
        learning_rate = tf.train.polynomial_decay(0.5, global_step, 8,
                                                  end_learning_rate=0.05, power=2.0)
        optimizer = tf.train.MomentumOptimizer(learning_rate, momentum=0.9)
        grads, variables = zip(*optimizer.compute_gradients(loss))
        clipped, global_norm = tf.clip_by_global_norm(grads, CLIP)
        train_op = optimizer.apply_gradients(zip(clipped, variables),
                                             global_step=global_step)
        init = tf.global_variables_initializer()
        saver = tf.train.Saver()

    feed = {x: X, labels: LABELS}
    losses, norms = [], []
    with tf.Session(graph=graph, backend=backend) as sess:
        sess.run(init)
        for step in range(STEPS):
            _, loss_value, norm = sess.run([train_op, loss, global_norm], feed_dict=feed)
            losses.append(loss_value)
            norms.append(norm)
            if step + 1 == SAVE_AT:
                saver.save(sess, f"{checkpoint_dir}/model.ckpt", global_step=global_step)
        trained = sess.run(list(variables))

    with tf.Session(graph=graph, backend=backend) as sess:     # resume in a new session
        sess.run(init)
        saver.restore(sess, tf.train.latest_checkpoint(checkpoint_dir))
        resumed_at = tf.train.global_step(sess, global_step)
        for _ in range(resumed_at, STEPS):
            sess.run(train_op, feed_dict=feed)
        resumed = sess.run(list(variables))
    return {"names": [v.name for v in variables], "shared": shared is variables[0],
            "losses": losses, "norms": norms, "trained": trained, "resumed": resumed,
            "resumed_at": resumed_at}


def numpy_training():
    """The same steps: the MLP's cross-entropy gradient by hand, global-norm clipping,
    TF1's polynomial decay (computed in float64, a float32 tensor) and Momentum."""
    params = [INITIAL["hidden"].copy(), np.zeros(8), INITIAL["logits"].copy(), np.zeros(3)]
    velocity = [np.zeros_like(p) for p in params]
    losses, norms = [], []
    for t in range(STEPS):
        w1, b1, w2, b2 = params
        h = np.tanh(X @ w1 + b1)
        z = h @ w2 + b2
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        losses.append(-np.mean(np.log(p[np.arange(16), LABELS])))
        d_z = (p - np.eye(3)[LABELS]) / 16
        d_pre = d_z @ w2.T * (1 - h ** 2)
        grads = [X.T @ d_pre, d_pre.sum(0), h.T @ d_z, d_z.sum(0)]
        norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
        norms.append(norm)
        lr = float(np.float32((0.5 - 0.05) * (1 - min(t, 8) / 8) ** 2 + 0.05))
        for i, g in enumerate(grads):
            velocity[i] = 0.9 * velocity[i] + g * CLIP / max(norm, CLIP)
            params[i] = params[i] - lr * velocity[i]
    return {"losses": losses, "norms": norms, "trained": params}


@pytest.mark.parametrize("backend", ALL)
def test_tf1_program_with_scopes_trains_and_resumes_as_tf1_would(backend, tmp_path):
    got, want = tf1_program(backend, tmp_path), numpy_training()
    assert got["names"] == ["mlp/hidden/weights", "mlp/hidden/biases", "mlp/logits/weights",
                            "mlp/logits/biases"]
    assert got["shared"] and got["resumed_at"] == SAVE_AT
    assert want["norms"][0] > CLIP > min(want["norms"])     # clipping acted, then did not
    np.testing.assert_allclose(got["losses"], want["losses"], rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(got["norms"], want["norms"], rtol=1e-11, atol=1e-14)
    for value, expected, resumed in zip(got["trained"], want["trained"], got["resumed"]):
        np.testing.assert_allclose(value, expected, rtol=1e-11, atol=1e-13)
        np.testing.assert_array_equal(resumed, value)
