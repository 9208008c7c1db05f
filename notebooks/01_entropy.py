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
# # Entropy of the predictions: NT vs AT (paper Section 4.1, Figure 1)
#
# For a prediction with class probabilities $p_1..p_n$ the entropy is $H = -\sum_i p_i \log p_i$
# (eq. 1; nats here). High entropy means an uncertain, less overconfident prediction.
#
# The paper finds (Fig 1a) that AT models' test entropies are **higher and more spread out** than NT's,
# and (Fig 1b) that the **mean entropy falls more slowly during training the larger the ε** of the
# adversarial examples: AT stays uncertain for longer instead of converging early on easy, perturbable
# features.
#
# This notebook works with whatever runs exist (one seed or five, any ε); what is missing is listed below.

# %% tags=["parameters"]
runs = None  # None: the most recently written runs folder under outputs/; or a runs folder, a glob, one run folder (from the repository root)
output_dir = "outputs/figures/01_entropy"  # figures are saved here as HTML and PNG
include_synthetic = False  # the paper's Section 4 compares runs on the original data only
point = -1  # record point of Fig 1a (-1: the last one)
bins = 40  # histogram bins of Fig 1a
expected_seeds = None  # None: the seeds the runs were planned with (meta.json plan); or a count, e.g. 5 as in the paper

# %%
from atlib import analysis, plots
from atlib.notebook_helpers import load_groups, show_figure

groups = load_groups(runs, include_synthetic, expected_seeds)

# %% [markdown]
# ## Figure 1a: distribution of the entropy of test predictions
#
# Histograms (densities) of the entropy of every test prediction at one record point, the seeds of a
# setting pooled. Expect NT's mass piled near 0 (confident predictions) and AT's spread to higher values,
# more so for larger ε.

# %%
show_figure(plots.entropy_distribution_chart, analysis.entropy_distribution(groups, point=point, bins=bins),
            output_dir, "fig1a_entropy_distribution", empty="No runs with test records were found.", groups=groups)

# %% [markdown]
# ## Figure 1b: mean test entropy over training
#
# Mean entropy over the test points at every record point, averaged over seeds (band: ±1 std over seeds).
# Expect the curves to fall more slowly the larger the training ε.

# %%
curves = analysis.mean_entropy_curves(groups)
show_figure(plots.mean_entropy_chart, curves, output_dir, "fig1b_mean_entropy",
            empty="No runs with test records were found.", groups=groups)

# %% [markdown]
# Mean entropy at the first and the last record point of each setting:

# %%
if len(curves):
    ends = curves.sort_values("epoch").groupby("label", sort=False)["mean"].agg(["first", "last"])
    display(ends.rename(columns={"first": "first point", "last": "last point"}).round(4))
