"""What an image metric snapshot computes, and on how many images."""
from __future__ import annotations

import gan_mixup.modalities.images.training as image_snapshot
from gan_mixup import train
from tests.conftest import make_tiny_config


def test_metric_snapshot_probes_d_at_128_images_and_draws_g_in_batches_of_128(tmp_path, monkeypatch):
    probed: list[tuple[int, int]] = []
    real_probe = image_snapshot.discriminator_gradient_norms

    def recording_probe(D, real, fake):
        probed.append((len(real), len(fake)))
        return real_probe(D, real, fake)

    monkeypatch.setattr(image_snapshot, "discriminator_gradient_norms", recording_probe)
    drawn: list[int] = []
    config = make_tiny_config(dataset="digits", hidden=8, iterations=2, batch_size=16, d_steps=1, fixed_samples=16,
                              metric_samples=300, metric_frames=1, snapshot_frames=1)
    original_snapshot = image_snapshot.take_snapshot

    def counting_snapshot(state, run_dir, G, D, with_metrics=True):
        hook = G.register_forward_pre_hook(lambda module, args: drawn.append(len(args[0])))
        try:
            return original_snapshot(state, run_dir, G, D, with_metrics)
        finally:
            hook.remove()

    monkeypatch.setattr(image_snapshot, "take_snapshot", counting_snapshot)
    train(config, tmp_path / "run")
    assert probed and set(probed) == {(128, 128)}
    # each snapshot: G on the 16 fixed noise vectors; each metric snapshot: the 300 metric ones as 128 + 128 + 44,
    # then the calibration probe's 128
    assert drawn.count(16) == len(drawn) - 4 * len(probed)
    assert [n for n in drawn if n != 16] == [128, 128, 44, 128] * len(probed)
