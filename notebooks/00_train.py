# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Train one configuration
#
# Trains (or resumes, or loads if finished) one run of the paper's setting (Section 3): natural
# training (NT) or PGD adversarial training (AT), optionally with half of every batch drawn from a
# synthesized data set (Section 5). Every test example's predicted probabilities are recorded at
# every record point, which is what the analysis notebooks (01-05) read.
#
# Every `atlib.config.TrainConfig` field can be set: `preset` gives the defaults ("demo": a small CNN
# on a CIFAR-10 subset, CPU-sized; "paper": ResNet-18 for 120 epochs; `None`: the paper's defaults),
# and `overrides` changes any field, e.g. `{"method": "at", "epsilon_255": 8, "seed": 1}`.
# The same run from a terminal: `python -m atlib.train --preset demo --method at --epsilon-255 8`.

# %% tags=["parameters"]
preset = "demo"  # a key of atlib.config.PRESETS (e.g. "demo", "paper"), or None for the paper's defaults
overrides = {}  # any TrainConfig field -> value, e.g. {"method": "at", "epsilon_255": 8, "data_root": "data"}
force = False  # True: discard a stored run of the same name and train again
output_dir = "outputs/figures/00_train"  # where the figure is saved (HTML and PNG)

# %%
import pandas as pd

from atlib import analysis, plots
from atlib.config import TrainConfig
from atlib.notebook_helpers import show_figure
from atlib.store.runs import group_seeds
from atlib.train import train

config = TrainConfig.from_overrides(overrides, preset=preset)  # values may be text: converted and checked
pd.Series({k: str(v) for k, v in config.to_dict().items()}, name="value").to_frame()

# %% [markdown]
# The run folder is named after the configuration (`config.run_name`); training resumes from its last
# checkpoint when interrupted, and a finished run is returned as stored unless `force` is set.

# %%
run = train(config, force=force)
print(f"run folder: {run.path}")
neg = run.metrics.get("neg_acc")
print(f"clean accuracy {run.metrics['clean_acc']:.4f}; CIFAR-10-NEG accuracy {'not recorded' if neg is None else f'{neg:.4f}'}")
print("robust accuracy (PGD):", {f"ε={k}/255": round(v, 4) for k, v in run.metrics.get("robust_acc", {}).items()})

# %% [markdown]
# ## Training curves
#
# Training loss and accuracy are averaged over the batches since the previous record point (for AT,
# on the adversarial batches); test and CIFAR-10-NEG accuracy are measured at each record point.

# %%
show_figure(plots.training_curves_chart, analysis.training_curves(run), output_dir, "training_curves", groups=group_seeds([run]))
