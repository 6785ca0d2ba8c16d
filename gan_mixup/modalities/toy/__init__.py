"""The toy modality: 2-D toy distributions (``toy_data``), the paper's MLPs, D drawn on a grid.

``spec`` declares it (datasets, defaults, refused fields); ``training``, ``draw`` and ``metrics`` do
its work, imported where used.
"""
