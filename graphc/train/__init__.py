"""`gc.train`: optimizers, learning-rate schedules, the training loop and checkpoints."""
from .adam import AdamOptimizer, AdamWOptimizer
from .checkpoint import (CheckpointError, Saver, list_variables, load_checkpoint,
                         read_checkpoint, write_checkpoint)
from .checkpoint_state import get_checkpoint_state, latest_checkpoint
from .global_step import (create_global_step, get_global_step, get_or_create_global_step,
                          global_step)
from .loop import History, accuracy, evaluate, fit
from .moving_averages import ExponentialMovingAverage
from .optimizer import Optimizer
from .optimizers import (AdadeltaOptimizer, AdagradOptimizer, FtrlOptimizer,
                         GradientDescentOptimizer, MomentumOptimizer, RMSPropOptimizer)
from .plotting import PlotUnavailable, plot_curves, plot_history
from .schedules import (cosine_decay, cosine_decay_restarts, exponential_decay,
                        inverse_sqrt_decay, linear_decay, piecewise_constant, polynomial_decay,
                        step_decay)

__all__ = ["AdadeltaOptimizer", "AdagradOptimizer", "AdamOptimizer", "AdamWOptimizer",
           "CheckpointError", "ExponentialMovingAverage", "FtrlOptimizer",
           "GradientDescentOptimizer", "History", "MomentumOptimizer", "Optimizer",
           "PlotUnavailable", "RMSPropOptimizer", "Saver", "accuracy", "cosine_decay",
           "cosine_decay_restarts", "create_global_step", "evaluate", "exponential_decay", "fit",
           "get_checkpoint_state", "get_global_step", "get_or_create_global_step", "global_step",
           "inverse_sqrt_decay", "latest_checkpoint", "linear_decay", "list_variables",
           "load_checkpoint", "piecewise_constant", "plot_curves", "plot_history",
           "polynomial_decay", "read_checkpoint", "step_decay", "write_checkpoint"]
