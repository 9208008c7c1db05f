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
# # Training-set dynamics beside the test profiles
#
# The paper measures example difficulty on the test set only. The example-difficulty methods it builds on
# work on *training* examples: **forgetting events** (Toneva et al. 2019), **Dataset Cartography**'s
# confidence and variability (Swayamdipta et al. 2020), the **area under the margin** (AUM, Pleiss et al.
# 2020) and **EL2N** (Paul et al. 2021). atlib records, for every original training example at every
# presentation, the loss, correctness, true-class probability and margin, from the forward pass the training
# step makes anyway (`record_train`, on by default), and evaluates a fixed class-balanced **training probe**
# like the test set at every record point (`train_probe_size`).
#
# Conventions, which the cited papers leave implicit:
#
# - **correctness** is argmax == label, not p > 0.5;
# - **margins** are on logits: the true-class logit minus the largest other logit;
# - **entropy** is over classes, never over time;
# - under AT (and TRADES, MART, AWP) the statistics come from the training forward on the **adversarial**
#   input, at the training precision (both stated per run below); `record_train_clean` adds a clean forward
#   of the same batch in eval mode, shown beside it as `clean, eval mode`.
#
# Scores are computed per seed and averaged over seeds; shares show mean ± std over seeds.

# %% tags=["parameters"]
runs = None  # None: the most recently written runs folder under outputs/; or a runs folder, a glob, one run folder (from the repository root)
output_dir = "outputs/figures/07_training_dynamics"  # figures are saved here as HTML and PNG
include_synthetic = True  # the generated images' gallery needs the runs trained with synthesized data
max_events = 8  # forgetting events at and past this count share one bar
map_points = 3000  # training examples drawn per data map (None: all)
el2n_fraction = 0.1  # EL2N at the record point nearest this fraction of training
threshold = None  # Appendix B threshold for the probe's categories; None: atlib.metrics.default_threshold of each setting's record points
gallery_size = 12  # synthesized images of lowest AUM shown per setting
expected_seeds = None  # None: the seeds the runs were planned with (meta.json plan); or a count, e.g. 5 as in the paper

# %%
import pandas as pd

from atlib.dynamics import frames
from atlib import plots
from atlib.notebook_helpers import load_groups, show_figure, show_notes, show_thresholds

groups, notes = frames.dynamics_groups(load_groups(runs, include_synthetic, expected_seeds))
probe, probe_notes = frames.probe_groups(groups)
show_notes(notes + probe_notes, "What the training records lack")
recorded = pd.DataFrame([{"setting": g.label, "seeds": len(g.runs), "input": g.runs[0].dynamics.meta.get("input"),
                          "precision": g.runs[0].dynamics.meta.get("precision"),
                          "epochs recorded": min(r.dynamics.epochs_done for r in g.runs),
                          "clean statistics": all(r.dynamics.clean for r in g.runs),
                          "synthesized rows": sum(r.dynamics.synthetic_rows for r in g.runs),
                          "probe examples": len(g.labels("probe")) if g in probe else 0} for g in groups])
display(recorded)

# %% [markdown]
# ## Forgetting events
#
# A forgetting event is a presentation at which an example that was classified correctly at its previous
# presentation is now misclassified. **Unforgettable** examples are learned and never forgotten; examples
# **never learned** are apart (they have no events but are not easy). Expect AT, which sees each example as
# an adversarial input, to forget more and learn fewer examples the larger its ε.

# %%
training_side = lambda df: df[~df["clean"].astype(bool)]  # noqa: E731  (the clean eval-mode forward is shown with the data maps)
show_figure(plots.forgetting_histogram_chart, training_side(frames.forgetting_histogram(groups, max_events)), output_dir,
            "forgetting_histogram", empty="No run recorded training dynamics.", groups=groups)
summary = training_side(frames.forgetting_summary(groups))
show_figure(plots.forgetting_summary_chart, summary, output_dir, "forgetting_vs_epsilon", empty="No run recorded training dynamics.", groups=groups)
if len(summary):
    display(summary.pivot_table(index="label", columns="metric", values="mean", sort=False).mul(100).round(1))

# %% [markdown]
# ## Data maps
#
# Each training example at its **confidence** (mean true-class probability over its presentations) and
# **variability** (the std of it), coloured by **correctness** (share of presentations classified correctly).
# The dashed lines mark the regions, thirds of the examples: **easy-to-learn** (top third by confidence),
# **hard-to-learn** (bottom third) and **ambiguous** (top third by variability). For AT runs recorded with
# `record_train_clean`, the clean map stands beside the adversarial one.

# %%
maps = frames.data_map(groups, sample=map_points)
show_figure(plots.data_map_chart, maps, output_dir, "data_maps", empty="No run recorded training dynamics.", groups=groups)
if len(maps):
    bounds = maps.groupby(["label", "input"], sort=False)[["easy_from", "hard_below", "ambiguous_from"]].first()
    display(bounds.rename(columns={"easy_from": "easy: confidence ≥", "hard_below": "hard: confidence ≤",
                                   "ambiguous_from": "ambiguous: variability ≥"}).round(3))

# %% [markdown]
# ## AUM and EL2N
#
# **AUM** is an example's mean margin over its presentations; low or negative values flag examples the
# network keeps assigning to another class (Pleiss et al. use them to find mislabeled data). **EL2N** is
# the norm of the error vector p − onehot(y) of the training probe, early in training (the record point
# nearest `el2n_fraction` of it), averaged over seeds: high values mark the examples that matter for
# pruning (Paul et al.).

# %%
show_figure(lambda df: plots.score_distribution_chart(df, "aum"), frames.aum_distribution(groups), output_dir,
            "aum_distribution", empty="No run recorded training dynamics.", groups=groups)
show_figure(lambda df: plots.score_distribution_chart(df, "el2n"), frames.el2n_distribution(probe, el2n_fraction),
            output_dir, "el2n_distribution", empty="No run recorded the training probe (train_probe_size > 0).", groups=groups)

# %% [markdown]
# ## The training probe: point categories against forgetting and AUM
#
# The probe's examples are evaluated like the test set, so Appendix B's categories apply to them. How do
# they relate to the training-time scores? Expect easy points to be unforgettable with high AUM, hard points
# never learned with negative AUM, and non-monotone points (whose profile drops) to be forgotten more.
# In the rank correlations, an example never learned counts as many forgetting events as it had
# presentations, as Toneva et al. rank it: the most forgettable, not unforgettable. The crosstab keeps
# never-learned examples in a column of their own.

# %%
show_thresholds(probe, threshold)
show_figure(plots.probe_crosstab_chart, frames.probe_crosstab(probe, threshold), output_dir, "probe_categories_vs_forgetting",
            empty="No run recorded the training probe (train_probe_size > 0).", groups=groups, threshold=threshold)
correlations = frames.probe_correlations(probe, threshold, el2n_fraction)
show_figure(plots.probe_correlation_chart, correlations, output_dir, "probe_rank_correlations",
            empty="No run recorded the training probe (train_probe_size > 0).", groups=groups, threshold=threshold)
if len(correlations):
    display(correlations.assign(pair=correlations["x"] + " ~ " + correlations["y"]).pivot_table(
        index="label", columns="pair", values="spearman", sort=False).round(3))

# %% [markdown]
# ## Suspicious generated images
#
# Synthesized images are drawn with replacement; each draw's margin is recorded. The images with the
# lowest AUM over all their draws (and seeds) are the ones the models most consistently assign to another
# class than their label: likely wrong labels. Each is shown with its label, its AUM and the share of its
# draws the model classified as that label (which other class it chose is not recorded).

# %%
synthetic = [g for g in groups if sum(r.dynamics.synthetic_rows for r in g.runs)]
if not synthetic:
    print("No run recorded synthesized rows (train with synthetic data to see this section).")
for group in synthetic:
    suspicious = frames.suspicious_synthetic(group, gallery_size)
    display(suspicious.round(3))
    try:
        images = frames.synthetic_images(group, suspicious["index"].to_numpy())
    except (FileNotFoundError, ValueError) as err:
        print(f"{group.label}: images unavailable ({err}); the table above lists them by their row in the synthesized set")
        continue
    show_figure(lambda df: plots.synthetic_gallery_chart(df, images, f"{group.label}: lowest-AUM synthesized images"),
                suspicious, output_dir, f"suspicious_synthetic_{group.setting.slug}", groups=[group])
