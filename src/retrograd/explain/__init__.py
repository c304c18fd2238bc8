"""The teaching layer: explain a real backward pass the way the seed documents do.

* :func:`backprop` - the layer view: per layer z, a, δ = ∂C/∂z, Δ = Wᵀδ, ∂C/∂W, ∂C/∂b, each
  labelled with the equation (BP1-BP4) that produced it, checked against ``param.grad``.
* :func:`trace` - the gate view of any graph: each op with its inputs, output, local,
  upstream and downstream gradients, in the order the engine ran them.
* :func:`compare` - check gradients derived by hand against the engine's.
* :func:`gradient_health` / :class:`GradientHealth` - per-layer gradient statistics over
  training, with vanishing/exploding flags and a plot.
* Renderers: ``str(view)`` (text), ``view.to_markdown()``, ``view.to_html()``,
  :func:`to_dot` / :func:`render_graph` (Graphviz).

Values shown are always those the engine computed (recorded with hooks), never a second
implementation of backpropagation.
"""

from ._format import Block, render
from .compare import Comparison, compare
from .dot import render_graph, to_dot
from .equations import Check, check_layers
from .gates import Trace, trace
from .health import GradientHealth, gradient_health
from .record import LayerRecord, LayerView, backprop, watch

__all__ = ["Block", "Check", "Comparison", "GradientHealth", "LayerRecord", "LayerView", "Trace",
           "backprop", "check_layers", "compare", "gradient_health", "render", "render_graph",
           "to_dot", "trace", "watch"]
