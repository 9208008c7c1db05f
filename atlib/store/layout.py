"""The names of the files inside a run folder ``<out>/runs/<name>/``: the one place that spells them.

Written only through :class:`atlib.store.writer.RunWriter`, read through :class:`atlib.store.runs.Run`
(docs/run-folder.md describes each file).
"""

CONFIG = "config.json"  # the TrainConfig, written once when the run is created
META = "meta.json"  # versions, device, resolved inputs (with the synthesized data's hash), wall time
METRICS = "metrics.json"  # final evaluation; its presence marks the run complete
PROGRESS = "progress.json"  # position and time of the last checkpoint (read by the sweep's status)
CHECKPOINT = "checkpoint.pt"  # model, optimizer, RNG states, position, and the run's identity
RECORDS = "records"  # per-example probabilities at every record point (atlib.store.records)
DYNAMICS = "dynamics"  # per-example training statistics (atlib.store.dynamics)
LOG = "log.jsonl"  # one JSON line per record point, the same numbers as records/index.json
TENSORBOARD = "tb"  # TensorBoard event files (optional)
AUTOATTACK_STATE = "autoattack_state"  # progress of an interrupted AutoAttack evaluation
LOCK = ".atlib.lock"  # advisory lock of the process that writes the folder (atlib.store.lock)
INDEX = "index.json"  # inside records/ and dynamics/: the counts that make rows visible
TEST_INDEX, PROBE_INDEX, TRAIN_INDEX = "test_index.npy", "probe_index.npy", "train_index.npy"  # inside records/

OWNED = (CHECKPOINT, METRICS, PROGRESS, META, RECORDS, DYNAMICS, LOG, TENSORBOARD, AUTOATTACK_STATE)
"""Everything ``--force`` removes (config.json is rewritten, the lock file stays)."""
