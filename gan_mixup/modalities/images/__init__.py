"""The images modality: image datasets in [-1, 1], DCGAN, uint8 sample grids, classifier metrics.

``spec`` declares it (datasets, defaults, limits, choices); ``training``, ``draw`` and ``metrics`` do
its work, ``data`` owns the datasets, downloads and the real digits; each is imported where used.
"""
