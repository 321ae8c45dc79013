"""`python tests/kill_at.py POINT kerarch-args...`: runs the kerarch command and SIGKILLs the process at POINT.

POINT is one of:
    epoch       during the second epoch (after its first batches)
    after_row   after the second epoch's metrics.csv row, before its backup commits
    evaluate    during evaluation (training finished and recorded)
    export      during the export (its temporary folder holds verified files)
"""

import os
import signal
import sys

from kerarch import cli
from kerarch.frame import get_recipe
from kerarch.training.callbacks import ResumableBackup


def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def kill_during_epoch(self, batch, logs=None):
    if self._current_epoch == 1 and batch == 1:
        die()
    return original_batch_end(self, batch, logs)


def kill_before_backup(self):
    if self._current_epoch == 2:
        die()
    return original_save(self)


original_batch_end, original_save = ResumableBackup.on_train_batch_end, ResumableBackup._save_model
point, args = sys.argv[1], sys.argv[2:]
if point == "epoch":
    ResumableBackup.on_train_batch_end = kill_during_epoch
elif point == "after_row":
    ResumableBackup._save_model = kill_before_backup
elif point == "evaluate":
    get_recipe(args[1]).evaluate = die
elif point == "export":
    import kerarch.export.exporter

    kerarch.export.exporter._keep_only = die
else:
    raise SystemExit(f"unknown kill point {point!r}")
sys.exit(cli.main(args))
