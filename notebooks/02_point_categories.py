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
# # Point categories: NT vs AT (paper Sections 4.2-4.3, Figures 2, 3 and 6)
#
# The pointwise framework of Kaplun et al. (2022) looks at each test point's **learning profile**: the
# seed-averaged probability the models give its true class at every record point, against the models'
# global accuracy. Appendix B assigns each point to a category:
#
# - **non-monotone** if its profile's total confidence drop (sum of all step-to-step decreases) exceeds a
#   threshold; otherwise the nearest (L1) of three templates:
# - **easy** (always 1), **hard** (always 0), **monotone** (tracks the global accuracy).
#
# The paper finds substantial non-monotonicity under NT (Fig 2), and that AT is **more monotone the larger
# its ε**, at the price of more hard points (Fig 3). The threshold is not given in the paper. The total drop
# grows with the number of record points, so atlib's default is relative to it,
# `atlib.metrics.default_threshold(T)` = 0.05 per step between the T record points (1.2 at 25 points, 23.95 at
# the paper preset's 480); this notebook shows how the categories move with it. Compare categories between
# runs recorded alike.

# %% tags=["parameters"]
runs = None  # None: the most recently written runs folder under outputs/; or a runs folder, a glob, one run folder (from the repository root)
output_dir = "outputs/figures/02_point_categories"  # figures are saved here as HTML and PNG
include_synthetic = False  # the paper's Section 4 compares runs on the original data only
threshold = None  # non-monotonicity threshold; None: atlib.metrics.default_threshold of each setting's record points
thresholds = None  # values for the threshold sweep; None: 0.25-2 times each setting's default (metrics.threshold_grid)
gallery_group = None  # the gallery setting, by its label as in the legends (e.g. NT); None: the first
per_category = 2  # examples per category in the gallery
gallery_seed = 0  # which random examples are picked
expected_seeds = None  # None: the seeds the runs were planned with (meta.json plan); or a count, e.g. 5 as in the paper

# %%
import pandas as pd

from atlib import analysis, plots
from atlib.explorer import ProfileSet, category_examples, category_gallery_chart
from atlib.notebook_helpers import load_groups, show_figure, show_thresholds

groups = load_groups(runs, include_synthetic, expected_seeds)
show_thresholds(groups, threshold)

# %% [markdown]
# ## Figure 2: categories under natural training
#
# Share of test points in each category for NT (categories from the seed-averaged profiles). The paper
# (like Kaplun et al.) sees a sizeable non-monotone share: as NT models get more accurate overall, they
# get worse on some individual points.

# %%
table = analysis.category_table(groups, threshold=threshold)
show_figure(plots.category_distribution_chart, table[table["method"] == "nt"], output_dir, "fig2_categories_nt",
            empty="No NT runs with at least two record points: train NT runs (`method='nt'`) to draw Figure 2.", groups=groups,
            threshold=threshold)

# %% [markdown]
# ## Figure 3: categories against the attack strength ε
#
# The same shares for NT (ε=0) and AT at each ε. Expect the monotone share to grow with ε (more stable
# learning) and the hard share to grow too (the robustness/accuracy trade-off).

# %%
show_figure(plots.categories_vs_epsilon_chart, table, output_dir, "fig3_categories_vs_epsilon",
            empty="No runs with at least two record points.", groups=groups, threshold=threshold)
if len(table):
    display(table.pivot_table(index="label", columns="category", values="percentage", sort=False).round(1))

# %% [markdown]
# ## How the categories move with the threshold
#
# A low threshold calls every jittery profile non-monotone; a high one calls none. The dashed line marks
# each setting's default threshold.

# %%
sweeps = [analysis.threshold_sweep(g, thresholds) for g in groups if g.num_points >= 2]
show_figure(plots.threshold_sweep_chart, pd.concat(sweeps, ignore_index=True) if sweeps else None,
            output_dir, "threshold_sweep", empty="No runs with at least two record points.", groups=groups)

# %% [markdown]
# ## Figure 6: example learning profiles of each category
#
# For a few random test images of each category (of one setting): the image, and the seed-averaged
# probability of every class over training (stacked; the true class at the bottom, outlined in black),
# with the models' global test accuracy dashed. Easy points are learned at once, hard points never,
# monotone points follow the global accuracy, and non-monotone points are learned and unlearned. Each
# image is named by its CIFAR-10 test index and by its record row (its row in the runs' records, which
# differs when the runs evaluated a subset of the test set); the explorer (notebook 05) uses the same names.

# %%
eligible = [g for g in groups if g.num_points >= 2]
group = next((g for g in eligible if gallery_group in (None, g.label)), None)
examples = None
if group is None:
    print(f"No setting to show: gallery_group={gallery_group!r} matches none of "
          f"{[g.label for g in eligible]} (settings with at least two record points).")
else:
    gallery = ProfileSet.load([group], threshold=threshold, require_images=False)
    if gallery.images is None:
        print(f"Images unavailable, showing learning profiles only: {gallery.images_error}")
    examples = category_examples(gallery, per_category=per_category, seed=gallery_seed)
    print(f"setting: {group.label} ({len(group.runs)} seeds)")
    display(examples)

show_figure(lambda picked: category_gallery_chart(gallery, picked), examples, output_dir, "fig6_learning_profiles",
            empty="No setting to draw profiles for.", groups=[group], threshold=threshold)
