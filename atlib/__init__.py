"""atlib: adversarial vs natural training learning dynamics, after Bayat & Rish.

See README.md for the map of the package. Submodules are imported on demand so
that analysis code (``atlib.store.runs``, ``atlib.metrics``, ``atlib.plots``) never
pulls in torch.
"""

__version__ = "0.1.0"
