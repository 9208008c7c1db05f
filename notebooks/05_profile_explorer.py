# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Learning-profile explorer: one image at a time, NT next to AT
#
# The paper argues through single images (Appendix A, Fig 6): *easy* points are learned early
# and kept, *hard* ones are never learned, *monotone* ones follow the global accuracy, and
# *non-monotone* ones are learned and forgotten again. This explorer shows, for any test image,
# how every run group (e.g. NT and AT at several ε) learned it:
#
# - the image itself, enlarged with sharp pixels;
# - its **learning profile** under each group side by side (Fig 6): the probability of every class
#   over training, averaged over seeds and stacked, the true class at the bottom outlined in
#   black, the group's global test accuracy dashed over it;
# - its **entropy** over training under each group, and its **category** under each group.
#
# Controls: *categories under* picks the group whose categories and final predictions drive the
# filters and sort keys; *category*, *class* and *final prediction* (right/wrong at the last record
# point) filter; *sort by* orders by non-monotonicity (total confidence drop, the most swinging
# images first), by final entropy (most uncertain first) or by dataset index. The slider walks
# through the images that pass. The line beside it names the image by its CIFAR-10 test index (its
# place in the dataset, what to quote) and its record row (its row in the runs' records; the two
# differ when the runs evaluated a subset of the test set), as notebook 02's gallery does.

# %% tags=["parameters"]
runs = None  # None: the most recently written runs folder under outputs/; or a runs folder, a glob, one run folder (from the repository root)
split = "test"  # "test", or "neg" (CIFAR-10-NEG) for CIFAR-10 runs that recorded it
threshold = None  # non-monotonicity threshold (total confidence drop); None: atlib.metrics.default_threshold of each group's record points
reference = 0  # group whose categories filter and sort: its position (NT comes first) or its label
export = None  # an .html path to also write the kernel-free version, for example outputs/explorer/report.html

# %%
from atlib.explorer import ProfileExplorer, export_html
from atlib.notebook_helpers import at_root, lacking, resolve_runs, show_notes

explorer = ProfileExplorer.from_runs(resolve_runs(runs), split=split, threshold=threshold, reference=reference)
show_notes(lacking(explorer.data.groups))

# %%
explorer.show()

# %% [markdown]
# ## A copy that needs no kernel
#
# `export_html` writes one self-contained HTML file (JavaScript, data and images inline; it opens
# from disk, offline) with a slider over a chosen subset of images: by default the most
# non-monotone images under the reference group plus examples of every category. The same from a
# shell: `python -m atlib.explorer outputs/demo/runs --out report.html`.

# %%
if export:
    print(f"wrote {export_html(explorer.data, at_root(export), reference=reference)}")
