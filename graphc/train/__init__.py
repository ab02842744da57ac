"""`gc.train`: optimizers, learning-rate schedules, the training loop and checkpoints."""
from .checkpoint import (CheckpointError, Saver, list_variables, load_checkpoint,
                         read_checkpoint, write_checkpoint)
from .loop import History, accuracy, evaluate, fit
from .adam import AdamOptimizer, AdamWOptimizer
from .optimizer import Optimizer
from .optimizers import (AdadeltaOptimizer, AdagradOptimizer, FtrlOptimizer,
                         GradientDescentOptimizer, MomentumOptimizer, RMSPropOptimizer)
from .plotting import PlotUnavailable, plot_curves, plot_history
from .schedules import (cosine_decay, exponential_decay, get_global_step,
                        get_or_create_global_step, inverse_sqrt_decay, linear_decay,
                        piecewise_constant, step_decay)

__all__ = ["AdadeltaOptimizer", "AdagradOptimizer", "AdamOptimizer", "AdamWOptimizer",
           "FtrlOptimizer", "CheckpointError", "GradientDescentOptimizer",
           "History", "MomentumOptimizer", "Optimizer", "PlotUnavailable", "RMSPropOptimizer",
           "Saver", "accuracy", "cosine_decay", "evaluate", "exponential_decay", "fit",
           "get_global_step", "get_or_create_global_step", "inverse_sqrt_decay",
           "linear_decay", "list_variables", "load_checkpoint", "piecewise_constant",
           "plot_curves", "plot_history", "read_checkpoint", "step_decay",
           "write_checkpoint"]
