"""The offline browser viewer: runs side by side on one time axis, with their metrics under the pictures.

``write_viewer(paths, out_dir)`` reads run directories alone (``snapshots/*.npz``, ``metrics.jsonl``,
``config.json``, through ``gan_mixup.rundir`` and the run's modality, as ``render`` does) and writes
one folder that opens from ``file://`` with no server and no network:

    viewer/
      index.html  viewer.js  viewer.css     the static page (package data, ``template/``)
      data/index.js                         the runs, their groups, events and a sweep's tables
      data/run_000.js ...                   one per run, loaded when the run is first shown

Frames are drawn in the browser from the snapshot arrays, losslessly: a toy frame is its fake points
(16-bit fixed point, far below a pixel), D's surface as a PNG of the snapshot's own grid, G's
gradient arrows and the per-mode coverage; an image frame is the fixed-noise grid as a PNG at the
samples' resolution. Data files are ``<script>``s, not fetched JSON, because browsers refuse
``fetch`` on ``file://``. ``compare``, ``figure5`` and ``sweep`` write one at the end.

Example:
    >>> from gan_mixup.view import write_viewer
    >>> write_viewer(["runs/figure5"], "runs/figure5/viewer")  # doctest: +SKIP
    PosixPath('runs/figure5/viewer/index.html')
"""
from __future__ import annotations

from gan_mixup.view.collect import ViewRun, ViewerError, collect_runs  # noqa: F401
from gan_mixup.view.write import default_out, write_viewer  # noqa: F401
