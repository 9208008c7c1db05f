"""The run folder's one home: everything that reads or writes a file inside ``<out>/runs/<name>/``.

- :mod:`~atlib.store.io`: crash-safe writes (temporary file + rename) and JSON/NPY helpers;
- :mod:`~atlib.store.records`: per-example prediction records (``records/``);
- :mod:`~atlib.store.dynamics`: per-presentation training statistics (``dynamics/``);
- :mod:`~atlib.store.checkpoint`: ``checkpoint.pt`` (the only torch module here);
- :mod:`~atlib.store.runs`: the reader, :class:`~atlib.store.runs.Run`, and seed groups.

Everything but ``checkpoint`` is torch-free, so analysis reads runs with NumPy alone.
"""
