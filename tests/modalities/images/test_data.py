"""Image datasets: shapes, ranges, generator-reproducible sampling, local files only, clear errors."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from image_files import write_fake_mnist, write_idx, write_png
from gan_mixup.errors import DataError, DatasetNotFoundError, GanMixupError
from gan_mixup.modalities.images.data import (
    IMAGE_DATASETS,
    digits_pixels,
    get_image_dataset,
    images_to_uint8,
    resize,
    uint8_to_images,
)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name,channels", [("digits", 1), ("stacked-digits", 3)])
@pytest.mark.parametrize("size", [16, 32, 64])
def test_bundled_datasets_sample_images_in_range(name, channels, size):
    ds = get_image_dataset(name, image_size=size)
    x = ds.sample(50, seeded(0))
    assert (ds.name, ds.modality, ds.channels, ds.image_size) == (name, "images", channels, size)
    assert ds.num_modes == 10**channels
    assert x.shape == (50, channels, size, size) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert x.min() >= -1.0 and x.max() <= 1.0
    # Real digits use the whole range: black background and white strokes.
    assert x.min() == -1.0 and x.max() > 0.9


@pytest.mark.parametrize("name", ["digits", "stacked-digits"])
def test_sampling_is_reproducible_from_the_generator_state(name):
    ds = get_image_dataset(name, image_size=16)
    g = seeded(3)
    ds.sample(7, g)  # advance the generator, then resume from a copy of its state
    state = g.get_state()
    first = ds.sample(32, g)
    g2 = torch.Generator()
    g2.set_state(state)
    torch.testing.assert_close(ds.sample(32, g2), first, rtol=0, atol=0)
    assert not torch.equal(ds.sample(32, seeded(4)), ds.sample(32, seeded(5)))
    torch.testing.assert_close(ds.reference(20, seed=1), ds.reference(20, seed=1), rtol=0, atol=0)


def test_sampling_leaves_the_global_rng_alone():
    ds = get_image_dataset("digits", image_size=16)
    before = torch.random.get_rng_state()
    ds.sample(10, seeded(0))
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_samples_land_on_the_generators_device_cuda():
    ds = get_image_dataset("stacked-digits", image_size=16)
    g = torch.Generator(device="cuda").manual_seed(0)
    x, modes = ds.sample_with_modes(8, g)
    assert x.device.type == "cuda" and modes.device.type == "cuda"
    # The dataset is copied to the device once and reused.
    ds.sample(8, g)
    assert len(ds._on_device) == 1


def test_digits_are_the_bundled_scikit_learn_digits():
    from sklearn.datasets import load_digits

    pixels, labels = digits_pixels(16)
    digits = load_digits()
    assert pixels.shape == (1797, 1, 16, 16)
    np.testing.assert_array_equal(labels.numpy(), digits.target)
    # Pooling 16 → 8 undoes most of the upsampling: close to the source grey levels scaled to [-1, 1].
    pooled = torch.nn.functional.avg_pool2d(pixels, 2)[:, 0].numpy()
    assert np.abs(pooled - (digits.images / 8.0 - 1.0)).mean() < 0.15


def test_stacked_digits_stack_three_independent_digits():
    ds = get_image_dataset("stacked-digits", image_size=16)
    pixels, labels = digits_pixels(16)
    g = seeded(11)
    index = torch.randint(len(labels), (2000, 3), generator=seeded(11))
    x, modes = ds.sample_with_modes(2000, g)
    # Each channel is one held digit, drawn with its own index.
    for k in range(3):
        torch.testing.assert_close(x[:, k], pixels[index[:, k], 0], rtol=0, atol=0)
    digits = torch.stack([modes // 100, modes // 10 % 10, modes % 10], dim=1)
    torch.testing.assert_close(digits, labels[index], rtol=0, atol=0)
    # Independent digits agree by chance only: P(c0 == c1) ≈ 0.1.
    for a, b in [(0, 1), (1, 2), (0, 2)]:
        assert 0.07 < float((digits[:, a] == digits[:, b]).float().mean()) < 0.13


def test_uint8_round_trip():
    x = get_image_dataset("digits", image_size=16).sample(5, seeded(0))
    array = images_to_uint8(x)
    assert array.dtype == np.uint8 and array.shape == (5, 1, 16, 16)
    torch.testing.assert_close(uint8_to_images(array), x, rtol=0, atol=1 / 127.5)


def test_resize_keeps_uint8_and_constant_images():
    x = torch.full((3, 1, 28, 28), 200, dtype=torch.uint8)
    for size in (16, 32):
        out = resize(x, size)
        assert out.dtype == torch.uint8 and out.shape == (3, 1, size, size)
        assert int(out.min()) == int(out.max()) == 200


@pytest.mark.parametrize(
    "kwargs,words",
    [
        (dict(name="imagenet"), ["unknown image dataset", "digits", "stacked-digits", "cifar10", "folder"]),
        (dict(name="digits", image_size=28), ["image size", "16, 32, 64", "28"]),
        (dict(name="folder", channels=2, data_root="."), ["channels must be 1 or 3"]),
        (dict(name="digits", channels=3), ["digits has 1 channel"]),
        (dict(name="mnist"), ["no data under", "default-data-root", "add --download"]),
        (dict(name="folder"), ["--data-root DIR"]),
        (dict(name="stacked-mnist-5k", channels=1), ["stacked-mnist-5k has 3 channels"]),
    ],
)
def test_bad_requests_raise_one_line_data_errors(kwargs, words):
    name = kwargs.pop("name")
    with pytest.raises(DataError) as info:
        get_image_dataset(name, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, GanMixupError) and "\n" not in message
    for word in words:
        assert word in message


def test_dataset_names():
    assert IMAGE_DATASETS == ("digits", "stacked-digits", "mnist-5k", "stacked-mnist-5k", "mnist", "fashion-mnist",
                              "cifar10", "stacked-mnist", "folder")


@pytest.mark.parametrize(
    "name,expected",
    [
        ("mnist", ["MNIST/raw", "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"]),
        ("fashion-mnist", ["FashionMNIST/raw", "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
        ("cifar10", ["cifar-10-batches-py", "data_batch_1", "data_batch_5", "test_batch", "batches.meta"]),
    ],
)
@pytest.mark.parametrize("layout", ["missing", "empty"])
def test_torchvision_datasets_without_files_name_what_they_expect(tmp_path, name, expected, layout):
    root = tmp_path / "data" if layout == "missing" else tmp_path
    with pytest.raises(DatasetNotFoundError) as info:
        get_image_dataset(name, data_root=root)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError) and "\n" not in message
    assert str(root) in message and "add --download" in message
    for word in expected:
        assert word in message
    assert not any(root.rglob("*.gz")) and not any(root.rglob("*.tar.gz"))  # nothing was fetched


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_like_datasets_load_torchvisions_raw_files(tmp_path, name, folder):
    images, labels = write_fake_mnist(tmp_path, folder, 12)
    ds = get_image_dataset(name, data_root=tmp_path)
    assert (len(ds), ds.channels, ds.image_size, ds.num_modes) == (12, 1, 32, None)
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    x = ds.sample(40, seeded(0))
    assert x.shape == (40, 1, 32, 32) and x.min() == -1.0 and x.max() == 1.0
    # Resized 28 → 32 but the same pictures: pooled back to 28 px, close to the source.
    back = torch.nn.functional.interpolate(ds.pixels.float(), size=(28, 28), mode="bilinear", antialias=True)
    assert float((back[:, 0] - torch.from_numpy(images).float()).abs().mean()) < 20
    rgb = get_image_dataset(name, data_root=tmp_path, channels=3, image_size=16)
    assert rgb.sample(4, seeded(0)).shape == (4, 3, 16, 16)
    torch.testing.assert_close(rgb.pixels[:, 0], rgb.pixels[:, 2], rtol=0, atol=0)


@pytest.fixture
def tiny_folder(tmp_path):
    root = tmp_path / "pictures"
    write_png(root / "red" / "a.png", (255, 0, 0), (40, 30))
    write_png(root / "red" / "b.png", (255, 0, 0), (20, 20))
    write_png(root / "blue" / "c.png", (0, 0, 255), (30, 50))
    return root


def test_folder_loads_rgb_images_centre_cropped(tiny_folder):
    ds = get_image_dataset("folder", data_root=tiny_folder, image_size=16)
    assert (len(ds), ds.channels, ds.image_size) == (3, 3, 16)
    assert ds.pixels.shape == (3, 3, 16, 16) and ds.pixels.dtype == torch.uint8
    # ImageFolder sorts classes: blue = 0, red = 1.
    assert ds.labels.tolist() == [0, 1, 1]
    x = ds.sample(12, seeded(0))
    assert x.shape == (12, 3, 16, 16)
    torch.testing.assert_close(uint8_to_images(ds.pixels[0]).mean(dim=(1, 2)), torch.tensor([-1.0, -1.0, 1.0]))
    torch.testing.assert_close(uint8_to_images(ds.pixels[1]).mean(dim=(1, 2)), torch.tensor([1.0, -1.0, -1.0]))


def test_folder_converts_to_grey(tiny_folder):
    ds = get_image_dataset("folder", data_root=tiny_folder, image_size=32, channels=1)
    assert ds.pixels.shape == (3, 1, 32, 32) and ds.channels == 1
    # PIL's "L" of pure red is 0.299 · 255 ≈ 76.
    assert abs(int(ds.pixels[1].float().mean()) - 76) <= 1


@pytest.mark.parametrize("layout", ["missing", "empty"])
def test_folder_without_the_layout_names_it(tmp_path, layout):
    root = tmp_path / "pictures"
    if layout != "missing":
        root.mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        get_image_dataset("folder", data_root=root)
    message = str(info.value)
    assert "\n" not in message and str(root) in message and "<root>/<class>/<image>" in message


def test_unreadable_mnist_files_raise_a_data_error(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"):
        (raw / f"{stem}-ubyte").write_bytes(b"not an idx file")
    with pytest.raises(DataError, match="not 00000803, the header of an IDX file of uint8 images") as info:
        get_image_dataset("mnist", data_root=tmp_path)
    assert "\n" not in str(info.value) and str(raw / "train-images-idx3-ubyte") in str(info.value)


def test_mnist_images_and_labels_of_different_counts_name_both_files(tmp_path):
    write_fake_mnist(tmp_path, "MNIST", 12)
    raw = tmp_path / "MNIST" / "raw"
    write_idx(raw / "train-labels-idx1-ubyte", np.arange(10) % 10)
    with pytest.raises(DataError) as info:
        get_image_dataset("mnist", data_root=tmp_path)
    message = str(info.value)
    assert "\n" not in message and "12 images" in message and "10 labels" in message
    assert str(raw / "train-images-idx3-ubyte") in message and str(raw / "train-labels-idx1-ubyte") in message


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda data: data[:-100], ["damaged or truncated", "12 x 28 x 28 images", "9424 bytes", "9324 bytes"]),
        (lambda data: data + b"\0", ["damaged or truncated", "9425 bytes"]),
        (lambda data: b"", ["damaged or truncated", "0 bytes"]),
        (lambda data: data[:10], ["damaged or truncated", "10 bytes"]),
        (lambda data: __import__("gzip").compress(data), ["gzip-compressed", "gunzip"]),
    ],
    ids=["truncated", "trailing-bytes", "empty", "header-cut", "gzipped"],
)
def test_damaged_mnist_files_are_named_not_reported_missing(tmp_path, damage, words):
    write_fake_mnist(tmp_path, "MNIST", 12)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError) as info:
        get_image_dataset("mnist", data_root=tmp_path)
    message = str(info.value)
    assert not isinstance(info.value, DatasetNotFoundError) and "add --download" not in message
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message


def test_mnist_labels_file_in_place_of_the_images_is_named(tmp_path):
    write_fake_mnist(tmp_path, "MNIST", 12)
    raw = tmp_path / "MNIST" / "raw"
    (raw / "train-images-idx3-ubyte").write_bytes((raw / "train-labels-idx1-ubyte").read_bytes())
    with pytest.raises(DataError, match="starts 00000801, not 00000803") as info:
        get_image_dataset("mnist", data_root=tmp_path)
    assert str(raw / "train-images-idx3-ubyte") in str(info.value)


def test_folder_keeps_imagefolders_order_and_labels(tmp_path):
    from torchvision.datasets import ImageFolder

    root = tmp_path / "pictures"
    for i, path in enumerate(("b/z.png", "b/a.jpg", "b/sub/m.png", "a/x.png", "a/deeper/more/y.png", "c/q.PNG")):
        write_png(root / path, (0, 40 * i + 20, 0), (8, 8))  # each image its own green
    (root / "a" / "notes.txt").write_text("not an image, skipped as ImageFolder skips it")
    ds = get_image_dataset("folder", data_root=root, image_size=16)
    reference = ImageFolder(str(root))
    assert ds.labels.tolist() == reference.targets
    greens = [reference[i][0].getpixel((0, 0))[1] for i in range(len(reference))]
    assert [int(g) for g in ds.pixels[:, 1, 0, 0]] == greens


@pytest.mark.parametrize("contents", [[], ["notes.txt"]], ids=["empty", "no-image-files"])
def test_folder_with_an_empty_class_names_that_folder(tmp_path, contents):
    root = tmp_path / "pictures"
    for cls in ("a", "b"):
        for i in range(6):
            write_png(root / cls / f"{i}.png", (i * 40, 0, 0), (8, 8))
    (root / "empty").mkdir()
    for name in contents:
        (root / "empty" / name).write_text("hello")
    with pytest.raises(DatasetNotFoundError) as info:
        get_image_dataset("folder", data_root=root, image_size=16)
    message = str(info.value)
    assert "\n" not in message and str(root / "empty") in message and "1 of the 3 class folders" in message
    assert "no images under" not in message


@pytest.mark.parametrize("damage", ["truncated", "not-an-image"])
def test_folder_with_an_unreadable_image_names_the_file(tmp_path, damage):
    from PIL import Image

    root = tmp_path / "pictures"
    write_png(root / "a" / "good.png", (0, 0, 0), (8, 8))
    bad = root / "a" / "bad.png"
    if damage == "truncated":
        noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(noise).save(bad)
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    else:
        bad.write_text("hello, not a png")
    with pytest.raises(DataError) as info:
        get_image_dataset("folder", data_root=root, image_size=16)
    message = str(info.value)
    assert "\n" not in message and str(bad) in message
    assert ("truncated" if damage == "truncated" else "cannot identify") in message


def test_folder_with_a_symlink_loop_is_refused_naming_the_link(tmp_path):
    root = tmp_path / "pictures"
    write_png(root / "a" / "x.png", (0, 0, 0), (8, 8))
    write_png(root / "b" / "y.png", (9, 9, 9), (8, 8))
    (root / "a" / "up").symlink_to(root, target_is_directory=True)
    with pytest.raises(DataError) as info:
        get_image_dataset("folder", data_root=root, image_size=16)
    message = str(info.value)
    assert "\n" not in message and str(root / "a" / "up") in message and "symlink loop" in message
    # A link to a folder outside the tree is followed, as ImageFolder follows it.
    (root / "a" / "up").unlink()
    write_png(tmp_path / "elsewhere" / "z.png", (5, 5, 5), (8, 8))
    (root / "a" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert get_image_dataset("folder", data_root=root, image_size=16).labels.tolist() == [0, 0, 1]


def test_folder_data_root_that_is_a_file_is_named(tmp_path):
    afile = tmp_path / "a.png"
    write_png(afile, (0, 0, 0), (8, 8))
    with pytest.raises(DatasetNotFoundError, match=f"{afile} is not a directory"):
        get_image_dataset("folder", data_root=afile)


def test_folder_scales_16_bit_images_and_refuses_those_of_no_fixed_range(tmp_path):
    from PIL import Image

    root = tmp_path / "pictures"
    (root / "a").mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16)).save(root / "a" / "deep.png")  # 128 · 257
    ds = get_image_dataset("folder", data_root=root, image_size=16, channels=1)
    assert ds.pixels.unique().tolist() == [128]  # not clipped at 255 (a white square)
    Image.new("F", (8, 8), 0.5).save(root / "a" / "float.tif")
    with pytest.raises(DataError, match="float.tif holds 32-bit float pixels") as info:
        get_image_dataset("folder", data_root=root, image_size=16)
    assert "\n" not in str(info.value)


def test_cifar10_files_that_fail_the_md5_check_are_named_as_damaged(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta"):
        (base / name).write_bytes(b"cut short")
    with pytest.raises(DataError) as info:
        get_image_dataset("cifar10", data_root=tmp_path)
    message = str(info.value)
    assert not isinstance(info.value, DatasetNotFoundError) and "\n" not in message
    assert str(base) in message and "data_batch_1" in message and "md5" in message


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_a_data_root_that_is_a_file_is_named_as_one(tmp_path, name):
    afile = tmp_path / "train-images-idx3-ubyte"
    afile.write_bytes(b"\0" * 16)
    with pytest.raises(DatasetNotFoundError, match=f"{afile} is a file, not a directory"):
        get_image_dataset(name, data_root=afile)


def test_a_flat_folder_loads_without_labels(tmp_path):
    root = tmp_path / "pictures"
    write_png(root / "a.png", (255, 0, 0), (8, 8))
    write_png(root / "b.jpg", (0, 0, 255), (12, 8))
    (root / "notes.txt").write_text("not an image")
    ds = get_image_dataset("folder", data_root=root, image_size=16)
    assert ds.pixels.shape == (2, 3, 16, 16) and ds.labels is None and ds.num_modes is None
    with pytest.raises(DataError, match="no labels"):
        ds.sample_with_modes(2, seeded(0))


def test_a_folder_with_one_class_has_no_labels(tmp_path):
    write_png(tmp_path / "all" / "a.png", (255, 0, 0), (8, 8))
    write_png(tmp_path / "all" / "b.png", (0, 255, 0), (8, 8))
    assert get_image_dataset("folder", data_root=tmp_path, image_size=16).labels is None


def test_stacked_mnist_stacks_three_independent_mnist_digits(tmp_path):
    _, labels = write_fake_mnist(tmp_path, "MNIST", 30)
    ds = get_image_dataset("stacked-mnist", data_root=tmp_path, image_size=16)
    assert (ds.channels, ds.num_modes, ds.stack, len(ds)) == (3, 1000, 3, 30)
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    images, modes = ds.sample_with_modes(200, seeded(0))
    assert images.shape == (200, 3, 16, 16) and int(modes.max()) < 1000
    assert len(set(modes.tolist())) > 150  # three independent draws, not one digit repeated
    # Each channel is one MNIST image: the mode's hundreds digit is the label of channel 0's image.
    first = images[:, :1]
    match = (uint8_to_images(ds.pixels)[None] - first[:, None]).abs().flatten(2).amax(dim=2) < 1e-6  # (200, 30)
    assert torch.equal(ds.labels[match.float().argmax(dim=1)], modes // 100)
    with pytest.raises(DataError, match="3 channels"):
        get_image_dataset("stacked-mnist", data_root=tmp_path, channels=1)
