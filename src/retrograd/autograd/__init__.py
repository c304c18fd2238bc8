"""The autodiff engine: Function base class, backward, grad mode, functional grads."""

from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled
from .engine import run_backward
from .function import Function
from .functional import grad, value_and_grad
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck

__all__ = ["AnomalyError", "Function", "GradcheckError", "detect_anomaly", "enable_grad",
           "grad", "gradcheck", "is_anomaly_enabled", "is_grad_enabled", "no_grad",
           "run_backward", "set_grad_enabled", "value_and_grad"]
