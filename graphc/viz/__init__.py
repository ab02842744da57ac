"""`gc.viz`: see a graph, its backward pass and where its gradients vanish or explode.

    dot = gc.viz.to_dot([loss, train_op])          # a graphviz.Digraph; dot.source is DOT
    gc.viz.render([loss, train_op], "step.svg")    # .svg .png .pdf (.dot/.gv: text)
    gc.viz.render([loss, train_op], "step.html", history=history)   # interactive page
    dot, norms = gc.viz.render_gradient_flow(loss, feed_dict=feed, path="grad.svg")

See docs/viz.md for the picture's visual language and the gradient-flow thresholds.
"""
from .drawing import render, to_dot
from .gradflow import GradNorm, Thresholds, render_gradient_flow
from .renderers import RenderError, Renderer, find_renderer

__all__ = ["GradNorm", "RenderError", "Renderer", "Thresholds", "find_renderer", "render",
           "render_gradient_flow", "to_dot"]
