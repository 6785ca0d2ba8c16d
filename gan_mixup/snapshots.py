"""The run-directory format moved to ``gan_mixup.rundir``; this name stays as an alias of it."""
import sys

from gan_mixup import rundir

sys.modules[__name__] = rundir
