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
# # Synthesized data: robustness and corruption accuracy (paper Section 5, Figures 5, 7 and 8)
#
# Larger ε makes AT more robust but costs accuracy, largely through robust overfitting. The paper mixes
# diffusion-generated images (Wang et al., 2023) into training, half of every batch, and evaluates on
# CIFAR-10-C / CIFAR-100-C (19 corruptions x 5 severities).
#
# Its finding: **AT benefits greatly from synthesized data** (higher CIFAR-C accuracy than AT on the
# original data, especially at large ε), while **NT barely does**. So with synthesized data a large ε can
# be used for robustness while keeping good accuracy on corrupted data.
#
# Runs on a *stand-in* for synthesized data (held-out real CIFAR-10 images, as `python -m atlib demo` uses
# when no generated set is given) are labelled "standin": they show the pipeline, not the paper's effect.

# %% tags=["parameters"]
runs = None  # None: the most recently written runs folder under outputs/; or a runs folder, a glob, one run folder (from the repository root)
output_dir = "outputs/figures/04_synthesized_data"  # figures are saved here as HTML and PNG
expected_seeds = None  # None: the seeds the runs were planned with (meta.json plan); or a count, e.g. 5 as in the paper

# %%
from IPython.display import Markdown

from atlib import analysis, plots
from atlib.notebook_helpers import load_groups, show_figure

groups = load_groups(runs, include_synthetic=True, expected_seeds=expected_seeds)

HOW_TO_GET_CIFAR_C = (
    "To get CIFAR-C: download the released CIFAR-10-C / CIFAR-100-C, or generate it with "
    "`python -m atlib.corruptions --dataset cifar10 --out data/CIFAR-10-C`; then evaluate finished runs with "
    "`python -m atlib.evaluate RUN [RUN ...] --cifar-c data/CIFAR-10-C` (or train with `cifar_c_root` set)."
)
summaries = {c: analysis.cifar_c_summary(groups, convention=c) for c in analysis.CIFAR_C_CONVENTIONS}
if all(len(s) == 0 for s in summaries.values()):
    display(Markdown(f"**CIFAR-C is not at hand: no run has CIFAR-C metrics.** {HOW_TO_GET_CIFAR_C}"))
else:
    sources = sorted({s for frame in summaries.values() for s in frame["source"]})
    display(Markdown(f"CIFAR-C source: **{', '.join(sources)}** ('generated': made by `atlib.corruptions` from the "
                     "published parameters, statistically but not bitwise like the released files)."))

# %% [markdown]
# ## Figure 5: CIFAR-C accuracy against ε
#
# AT with original and with synthesized data as lines over the training ε; NT (no ε) as dashed horizontal
# references. The paper's convention averages all 19 corruptions, severities pooled; RobustBench's averages
# the 15 common ones. Expect the synthesized-data AT line above the original-data one, increasingly with ε.

# %%
show_figure(plots.cifar_c_chart, summaries["seed_paper"], output_dir, "fig5_cifar_c_seed_paper",
            empty=f"No run has all 19 corruptions evaluated. {HOW_TO_GET_CIFAR_C}", groups=groups)
show_figure(plots.cifar_c_chart, summaries["robustbench"], output_dir, "fig5_cifar_c_robustbench",
            empty=f"No run has the 15 common corruptions evaluated. {HOW_TO_GET_CIFAR_C}", groups=groups)

# %% [markdown]
# ## Figures 7 and 8: accuracy per corruption
#
# The Figure 5 comparison for each corruption (severities pooled): CIFAR-10-C (Fig 7), CIFAR-100-C (Fig 8).

# %%
per_corruption = analysis.cifar_c_per_corruption(groups)
for dataset, figure in (("cifar10", "fig7_cifar10_c_per_corruption"), ("cifar100", "fig8_cifar100_c_per_corruption")):
    show_figure(plots.cifar_c_corruptions_chart, per_corruption[per_corruption["dataset"] == dataset], output_dir, figure,
                empty=f"No {dataset} run has CIFAR-C metrics. {HOW_TO_GET_CIFAR_C}", groups=groups)

# %% [markdown]
# ## Robust accuracy against ε
#
# Clean accuracy and robust accuracy (at each evaluated budget) of the final models: the robustness
# side of the trade-off. Synthesized data should keep AT's robustness while raising its accuracy.
# PGD-20 is measured at the end of training on class-balanced test rows; AutoAttack, the field's standard
# (`python -m atlib.evaluate RUN... --autoattack`), appears beside it on the same rows when evaluated. It is the
# stronger attack, so its line lies at or below PGD's.

# %%
robust = analysis.robust_summary(groups)
show_figure(plots.robust_accuracy_chart, robust, output_dir, "robust_accuracy_vs_epsilon",
            empty="No finished run has robust accuracy: finish training (robust accuracy is measured at the end).", groups=groups)
if not robust.empty and "AutoAttack" not in set(robust["attack"]):
    print("AutoAttack not evaluated yet: python -m atlib.evaluate RUN... --autoattack (pip install -r requirements-autoattack.txt)")

# %% [markdown]
# ## All final numbers
#
# Mean over seeds (std in the interactive figures): clean, robust, and CIFAR-C accuracy.

# %%
if len(robust):
    table = robust.pivot_table(index="label", columns="eval_epsilon_255", values="robust_mean", sort=False).sort_index(axis=1)
    table.columns = [f"PGD ε={e:g}/255" for e in table.columns]
    table.insert(0, "clean", robust.drop_duplicates("label").set_index("label")["clean_mean"])
    for convention, frame in summaries.items():
        table[f"CIFAR-C ({convention})"] = frame.set_index("label")["mean"]
    display(table.round(4))
