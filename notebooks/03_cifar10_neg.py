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
# # CIFAR-10-NEG: NT vs AT (paper Section 4.4, Figure 4)
#
# CIFAR-10-NEG (Kaplun et al., 2022) holds the 1,000 CINIC-10 images with the most non-monotone learning
# profiles: on them, accuracy first rises and then falls while CIFAR-10 test accuracy keeps improving.
# Training records the accuracy on it at every record point.
#
# The paper sees two phases under NT: a rise and a decline (to about 25%), then, training on to
# convergence, a second, lower rise. AT models improve **more steadily**, and larger ε gives both steadier
# and higher CIFAR-10-NEG accuracy.

# %% tags=["parameters"]
runs = None  # None: the most recently written runs folder under outputs/; or a runs folder, a glob, one run folder (from the repository root)
output_dir = "outputs/figures/03_cifar10_neg"  # figures are saved here as HTML and PNG
include_synthetic = False  # the paper's Section 4 compares runs on the original data only
expected_seeds = None  # None: the seeds the runs were planned with (meta.json plan); or a count, e.g. 5 as in the paper

# %%
from atlib import analysis, plots
from atlib.notebook_helpers import load_groups, show_figure

groups = load_groups(runs, include_synthetic, expected_seeds, datasets=["cifar10"])

# %% [markdown]
# ## Figure 4: CIFAR-10-NEG accuracy over training
#
# Mean over seeds, band ±1 std. Runs trained without the CIFAR-10-NEG file (or on CIFAR-100) have no
# such records and are left out: put `CIFAR10_neg.npz` in `$ATLIB_DATA` (or pass `neg_path`) when training.

# %%
neg = analysis.neg_accuracy_curves(groups)
show_figure(plots.neg_accuracy_chart, neg, output_dir, "fig4_cifar10_neg_accuracy",
            empty="No run recorded CIFAR-10-NEG accuracy: train CIFAR-10 runs with `CIFAR10_neg.npz` in `$ATLIB_DATA`.", groups=groups)

# %% [markdown]
# ## In-distribution vs CIFAR-10-NEG accuracy
#
# The same runs' CIFAR-10 test accuracy beside their CIFAR-10-NEG accuracy: the paper's point is that the
# two need not rise together.

# %%
curves = analysis.training_curves(groups)
show_figure(plots.training_curves_chart, curves[curves["metric"].isin(["test_acc", "neg_acc"])], output_dir,
            "test_vs_neg_accuracy", empty="No runs with records were found.", groups=groups)

# %% [markdown]
# Peak and final CIFAR-10-NEG accuracy of each setting (a rise-then-fall shows as peak > final):

# %%
if len(neg):
    peaks = neg.loc[neg.groupby("label", sort=False)["mean"].idxmax(), ["label", "epoch", "mean"]].set_index("label")
    final = neg.sort_values("epoch").groupby("label", sort=False)["mean"].last()
    display(peaks.rename(columns={"epoch": "peak epoch", "mean": "peak"}).assign(final=final).round(4))
