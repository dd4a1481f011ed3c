"""The paper's four regularisation switches of a pretraining recipe: their names, "off" values and labels.

Free of torch, so the tables that name switches (aggregate, ablation, figures) start quickly.
"""

from __future__ import annotations

# The paper's regularisation switches: name -> (recipe key, its "off" value in the controlled recipe).
SWITCHES = {"no_bn_gamma": ("bn_gamma", True), "label_smoothing": ("label_smoothing", 0.0),
            "dropout": ("dropout", 0.0), "aux_head": ("aux_head", False)}


def switches_on(recipe):
    """The names of the switches a recipe turns on, in ``SWITCHES`` order (missing keys count as off)."""
    return [name for name, (key, off) in SWITCHES.items() if recipe.get(key, off) != off]


NO_SWITCHES = "none"


def switches_label(switches):
    """How tables and features files name a set of switches: 'none', 'label_smoothing+dropout', ..."""
    return "+".join(switches) or NO_SWITCHES


def model_options(recipe):
    """``models.create_model`` options of a recipe's switches."""
    return {"drop_rate": recipe["dropout"], "aux_head": recipe["aux_head"], "bn_gamma": recipe["bn_gamma"]}
