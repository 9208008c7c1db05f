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
# # Do these runs reproduce the paper? The claims report
#
# Each finding of the paper becomes an ordering between settings that a statistic free of arbitrary
# choices can test (`atlib.claims.paper` lists them):
#
# 1. Fig 1a: AT's test entropies are higher (1a) and more spread (1b) than NT's;
# 2. Fig 1b: the larger ε, the slower the mean entropy falls (area under the curve over normalized training time);
# 3. Fig 2-3: NT has a large non-monotone share (3a), which falls as ε grows (3b), while the hard share rises (3c),
#    judged at every threshold of a range, not at one;
# 4. Fig 4: NT's CIFAR-10-NEG accuracy falls from its peak while test accuracy still rises (4a); AT's curve is
#    steadier the larger ε (4b);
# 5. Fig 5: synthesized data lifts AT's CIFAR-C accuracy, more so at larger ε (5a), and NT's less (5b);
# 6. the trade-off: larger ε, higher robust (6a) and lower clean accuracy (6b).
#
# **The rule, fixed in advance:** a claim *holds* when its ordering holds for the mean over seeds and for
# every seed (seeds matched by number); it *does not hold* when the reverse ordering holds likewise;
# otherwise we *cannot tell*, and the reason is given (missing settings, one seed, no NEG, no CIFAR-C, a
# stand-in instead of synthesized data, or seeds that disagree). Only NT and PGD-AT enter the verdicts;
# other methods are shown beside them.

# %% tags=["parameters"]
runs = None  # None: the most recently written runs folder under outputs/; or a runs folder, a glob, one run folder (from the repository root)
output_dir = "outputs/figures/06_claims"  # figures (HTML + PNG) and claims.json are saved here
threshold_range = None  # [low, high] total-drop thresholds for claims 3a-3c; None: scaled to the number of record points
expected_seeds = None  # None: the seeds the runs were planned with (meta.json plan); or a count, e.g. 5 as in the paper

# %%
from IPython.display import Markdown, display

from atlib import metrics, plots
from atlib.claims import claims_report
from atlib.store.io import write_json
from atlib.notebook_helpers import at_root, load_groups, show_figure

groups = load_groups(runs, include_synthetic=True, expected_seeds=expected_seeds)
report = claims_report(groups, tuple(threshold_range) if threshold_range else None)
write_json(at_root(output_dir) / "claims.json", report.to_dict())
thresholds = "non-monotonicity thresholds: " + "; ".join(f"{scope} {low:.3g}–{high:.3g}"
                                                          for scope, (low, high) in report.threshold_ranges.items())

# %% [markdown]
# ## The claims table
#
# Per setting: the statistic's mean over the shared seeds, then its [min-max] over seeds and the number of
# seeds; per claim, each difference the verdict read with its interval and the minimum effect. For the point
# categories (3a-3c) the first number is the share under the profiles averaged over the shared seeds, as
# Fig 2-3 and notebook 02 show it, and the range that of each seed's own profile. The rule: docs/claims.md.

# %%
display(Markdown(report.markdown()))

# %% [markdown]
# ## What each verdict read
#
# One panel per claim, titled with its verdict: every difference the claim orders, its mean over the shared
# seeds (dot) and the interval the verdict used (bar: seeds and images), with 0 and the claim's minimum
# effect (dashed), in the table's units. For 3a-3c a diamond marks the same difference under the
# seed-averaged profiles, the sign check (docs/claims.md).

# %%
show_figure(plots.claims_chart, report.difference_frame(), output_dir, "claims", empty="No claim could be judged.",
            groups=groups, threshold=thresholds)

# %% [markdown]
# ## Point categories over the threshold range (claims 3a-3c)
#
# The paper gives no non-monotonicity threshold. The score is a sum of drops over the record points, so its
# scale grows with their number; by default the range is scaled to the runs' number of record points
# (`atlib.metrics.default_threshold`). A claim holds only if it holds at every threshold of the range; the
# table says where each ordering holds otherwise.

# %%
for scope, (low, high) in report.threshold_ranges.items():
    print(f"{scope}: thresholds {low:.3g} to {high:.3g}")
print(f"default threshold at 8, 24 and 480 record points: "
      + ", ".join(f"{metrics.default_threshold(t):.3g}" for t in (8, 24, 480)))
show_figure(plots.claims_threshold_chart, report.categories, output_dir, "claims_thresholds",
            empty="No settings with at least two record points.", groups=groups)
