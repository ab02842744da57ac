"""A training loop for classifiers: minibatch epochs with a progress bar, per-epoch
train / validation loss and accuracy, a stop with a clear message when the loss stops
being a number, and an optional loss-curve PNG.

Each training step is one `run` of [loss, accuracy, train_op] through a callable made
once (`Session.make_callable`), so forward, backward and update are one program.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .. import distributed
from ..data.batching import BatchIterator
from ..ir import Node, float32
from ..ops import argmax, cast, equal, reduce_mean
from .grad_norms import GradientRecord, norm_fetches


def accuracy(logits: Node, labels: Node, name: str = "accuracy") -> Node:
    """Fraction of rows whose largest logit is at the label (a float32 scalar)."""
    predicted = cast(argmax(logits, axis=-1), labels.dtype)
    return reduce_mean(cast(equal(predicted, labels), float32), name=name)


@dataclass
class History:
    """What `fit` measured. Accuracies are fractions (0.983), losses per-example means."""

    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0
    stopped: str | None = None          # why training ended early (None: it ran to the end)
    gradients: GradientRecord = field(default_factory=GradientRecord)  # record_gradients=k

    def plot(self, path, title: str | None = None) -> str:
        """Write the loss/accuracy curves to `path` (needs matplotlib: graphc[plot])."""
        from .plotting import plot_history
        return plot_history(self, path, title)

    def plot_gradients(self, path, title: str | None = None) -> str:
        """Write each variable's gradient norm over the recorded steps to `path` (log
        scale; needs matplotlib). Train with `fit(..., record_gradients=k)` first."""
        from .plotting import plot_gradient_norms
        return plot_gradient_norms(self, path, title)


def evaluate(sess, loss: Node, inputs, x, y, accuracy_op: Node | None = None,
             batch_size: int = 256, feed_dict=None) -> tuple[float, float | None]:
    """(mean loss, accuracy or None) over (x, y) in batches, weighted by batch size."""
    x_ph, y_ph = inputs
    fetches = [loss] if accuracy_op is None else [loss, accuracy_op]
    extra = dict(feed_dict or {})
    totals = np.zeros(len(fetches))
    for start in range(0, len(x), batch_size):
        feeds = {x_ph: x[start:start + batch_size], y_ph: y[start:start + batch_size]}
        feeds.update(extra)
        values = sess.run(fetches, feeds)
        totals += np.asarray(values, dtype=np.float64) * len(feeds[x_ph])
    means = totals / max(1, len(x))
    return float(means[0]), (None if accuracy_op is None else float(means[1]))


def fit(sess, train_op: Node, loss: Node, inputs, train_data, val_data=None, epochs: int = 1,
        batch_size: int = 64, accuracy_op: Node | None = None, augment=None, seed: int = 0,
        train_feed_dict=None, eval_feed_dict=None, progress: bool = True,
        plot_path=None, plot_title: str | None = None, log=print,
        record_gradients: int = 0) -> History:
    """Train for `epochs` over `train_data` = (x, y), fed to `inputs` = (x_ph, y_ph).

    accuracy_op: a scalar accuracy tensor (see `accuracy`), reported per epoch.
    augment: a callable on each x batch (e.g. `gc.data.Augmenter`), applied live.
    train_feed_dict / eval_feed_dict: extra feeds, e.g. a `training` flag for dropout.
    plot_path: write the loss curves there after training, titled `plot_title` (skipped
        with a message when matplotlib is missing).
    log: where the per-epoch lines and messages go (print by default; None for quiet).
    record_gradients: every this many steps (and at the first), record ‖∂loss/∂w‖ and
        ‖w‖ for each trainable variable into `History.gradients`, as extra fetches of
        that step (0: never). `History.plot_gradients` and `gc.viz.render(...,
        "flow.html", history=history)` show them.
    A loss that is NaN or infinite stops training at once; `History.stopped` says why.
    Under gc.distributed each rank trains on its shard of `train_data`; the losses and
    accuracies recorded are averages over the ranks, and only rank 0 prints and plots.
    """
    from tqdm.auto import tqdm

    x_ph, y_ph = inputs
    x_train, y_train = train_data
    root = distributed.is_root()
    say = _writer(log if root else None, tqdm)
    progress = progress and root
    batches = BatchIterator(x_train, y_train, batch_size, shuffle=True, seed=seed,
                            augment=augment)
    extra = list((train_feed_dict or {}).items())
    feed_list = [x_ph, y_ph] + [k for k, _ in extra]
    fetches = [loss, train_op] if accuracy_op is None else [loss, accuracy_op, train_op]
    step = sess.make_callable(fetches, feed_list)
    history = History(steps_per_epoch=len(batches))
    if record_gradients < 0:
        raise ValueError(f"fit: record_gradients must be >= 0, got {record_gradients}")
    if record_gradients:
        names, norms = norm_fetches(loss)
        history.gradients.loss = loss.name
        recorded_step = sess.make_callable(fetches + norms, feed_list)

    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        sums = np.zeros(2)
        seen = 0
        bar = tqdm(total=len(batches), desc=f"epoch {epoch}/{epochs}", unit="batch",
                   disable=not progress, leave=False, file=sys.stderr, dynamic_ncols=True)
        for i, (xb, yb) in enumerate(batches):
            number = len(history.step_loss) + 1
            if record_gradients and (number - 1) % record_gradients == 0:
                values = recorded_step(xb, yb, *[v for _, v in extra])
                history.gradients.add(number, names, values[len(fetches):])
            else:
                values = step(xb, yb, *[v for _, v in extra])
            metrics = distributed.average([values[0], 0.0 if accuracy_op is None else
                                           values[1]])
            loss_value = float(metrics[0])
            if not math.isfinite(loss_value):
                bar.close()
                history.stopped = (
                    f"training stopped: the loss became {loss_value} at epoch {epoch}, batch "
                    f"{i + 1} of {len(batches)}; the learning rate is probably too high "
                    "(the variables now hold that step's non-finite update: restore a "
                    "checkpoint or re-initialize before training again)")
                say(history.stopped)
                return _finish(history, plot_path if root else None, plot_title, say)
            history.step_loss.append(loss_value)
            sums += metrics * len(xb)
            seen += len(xb)
            bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
            bar.update(1)
        bar.close()
        history.epochs.append(epoch)
        history.train_loss.append(sums[0] / seen)
        if accuracy_op is not None:
            history.train_accuracy.append(sums[1] / seen)
        if val_data is not None:
            v_loss, v_acc = evaluate(sess, loss, inputs, val_data[0], val_data[1], accuracy_op,
                                     feed_dict=eval_feed_dict)
            history.val_loss.append(v_loss)
            if v_acc is not None:
                history.val_accuracy.append(v_acc)
        history.seconds.append(time.perf_counter() - start)
        say(_epoch_line(history, epochs))
    return _finish(history, plot_path if root else None, plot_title, say)


def _epoch_line(h: History, epochs: int) -> str:
    width = len(str(epochs))
    parts = [f"epoch {h.epochs[-1]:{width}d}/{epochs}", f"train loss {h.train_loss[-1]:.4f}"]
    if h.train_accuracy:
        parts.append(f"acc {h.train_accuracy[-1]:6.2%}")
    if h.val_loss:
        parts.append(f"| val loss {h.val_loss[-1]:.4f}")
    if h.val_accuracy:
        parts.append(f"acc {h.val_accuracy[-1]:6.2%}")
    parts.append(f"({h.seconds[-1]:.1f} s)")
    return "  ".join(parts)


def _finish(history: History, plot_path, plot_title, say) -> History:
    if plot_path is not None and history.step_loss:
        from .plotting import PlotUnavailable
        try:
            say(f"loss curve written to {history.plot(plot_path, plot_title)}")
        except PlotUnavailable as err:
            say(f"no loss curve drawn: {err}")
    return history


def _writer(log, tqdm):
    """A function that prints a line without breaking an active progress bar."""
    if log is None:
        return _quiet
    if log is print:
        return tqdm.write
    return log


def _quiet(message: str) -> None:
    return None
