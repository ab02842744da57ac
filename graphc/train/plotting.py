"""Loss-curve pictures (PNG) with matplotlib, an optional extra: pip install 'graphc[plot]'.

matplotlib is imported only when a picture is drawn, with the non-interactive Agg
backend, so training never needs a display and graphc never needs matplotlib.
"""
from __future__ import annotations

import os

import numpy as np

from ..ir import GraphcError

PLOT_HINT = "pip install 'graphc[plot]'   (or: pip install matplotlib)"


class PlotUnavailable(GraphcError, ImportError):
    """matplotlib is not installed; the message says how to get it."""


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable(f"drawing a loss curve needs matplotlib: {PLOT_HINT}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def smooth(values, window: int) -> np.ndarray:
    """Moving average over `window` points (shorter at the start), for noisy step losses."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    out = np.empty_like(values)
    for i in range(len(values)):
        lo = max(0, i + 1 - window)
        out[i] = (cumulative[i + 1] - cumulative[lo]) / (i + 1 - lo)
    return out


def plot_history(history, path, title: str | None = None) -> str:
    """Loss per step and per epoch (train and validation) beside accuracy per epoch."""
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    steps = np.arange(1, len(history.step_loss) + 1)
    per_epoch = max(1, history.steps_per_epoch)
    if len(steps):
        ax_loss.plot(steps / per_epoch, history.step_loss, color="0.75", lw=0.8,
                     label="train loss (each step)")
        ax_loss.plot(steps / per_epoch, smooth(history.step_loss, max(1, per_epoch // 4)),
                     color="C0", lw=1.2, label="train loss (smoothed)")
    if history.val_loss:
        ax_loss.plot(history.epochs, history.val_loss, "o-", color="C1", label="validation loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_yscale("log")
    ax_loss.legend()
    if history.train_accuracy:
        ax_acc.plot(history.epochs, np.asarray(history.train_accuracy) * 100, "o-",
                    color="C0", label="train")
    if history.val_accuracy:
        ax_acc.plot(history.epochs, np.asarray(history.val_accuracy) * 100, "o-", color="C1",
                    label="validation")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    if history.train_accuracy or history.val_accuracy:
        ax_acc.legend()
    fig.suptitle(title or "graphc training")
    return _save(fig, plt, path)


def plot_gradient_norms(history, path, title: str | None = None) -> str:
    """‖∂loss/∂w‖ of each variable over the recorded steps, one line each (log scale)."""
    record = history.gradients
    if not record:
        raise ValueError("no gradient norms recorded: train with fit(..., "
                         "record_gradients=k) first")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, norms in record.grad_norms.items():
        ax.plot(record.steps, norms, label=name, lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("‖∂loss/∂w‖")
    ax.set_yscale("log")
    ax.set_title(title or "gradient norms per variable")
    ax.legend(fontsize="small", ncol=2 if len(record.grad_norms) > 8 else 1)
    return _save(fig, plt, path)


def plot_curves(curves: dict, path, title: str = "loss", xlabel: str = "step",
                ylabel: str = "loss", log_scale: bool = True, smoothing: int = 1) -> str:
    """Several named curves in one picture (e.g. the same model under each optimizer)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        ax.plot(np.arange(1, len(values) + 1), smooth(values, smoothing), label=label, lw=1.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    return _save(fig, plt, path)


def _save(fig, plt, path) -> str:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
