"""Training for the book's experiments: a resumable ``fit`` loop, the SPEC MLPs and the 2-D data.

Public surface (contracts.md): :func:`fit`, :class:`TrainResult`, :class:`ShallowMLP`,
:class:`DeepMLP`, :func:`xor_data`, :func:`sinusoid_data`, :func:`minibatches`, and the SPEC
settings of the 2-D tasks (:data:`RECIPES`, :func:`train_run`).
"""
from .data import minibatches, sinusoid_boundary, sinusoid_data, sinusoid_labels, xor_data
from .fit import TrainResult, cpu_state, fit
from .models import ACTIVATIONS, DeepMLP, ShallowMLP
from .recipes import RECIPES, Recipe, classification_eval, cross_entropy_step, make_model, recipe, task_data, train_run

__all__ = [
    "ACTIVATIONS", "DeepMLP", "RECIPES", "Recipe", "ShallowMLP", "TrainResult", "classification_eval",
    "cpu_state", "cross_entropy_step", "fit", "make_model", "minibatches", "recipe", "sinusoid_boundary",
    "sinusoid_data", "sinusoid_labels", "task_data", "train_run", "xor_data",
]
