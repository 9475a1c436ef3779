import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import data
from jaxnas.weight_sharing import input_pipeline


@pytest.fixture(scope="module")
def cifar():
    try:
        return input_pipeline.load("cifar10_small")
    except data.DataFileError as err:
        pytest.skip(f"cifar10_small.npz not available: {err}")


def test_cifar10_small_shapes_and_statistics(cifar):
    assert cifar.train.images.shape == (10000, 32, 32, 3) and cifar.train.images.dtype == np.uint8
    assert cifar.test.images.shape == (2000, 32, 32, 3)
    assert cifar.num_classes == 10 and cifar.image_shape == (32, 32, 3)
    np.testing.assert_array_equal(np.bincount(cifar.train.labels), np.full(10, 1000))  # class-balanced
    # Normalised training images are standardised per channel.
    x = np.asarray(input_pipeline.normalize(cifar.train.images[:4000], cifar.mean, cifar.std))
    np.testing.assert_allclose(x.reshape(-1, 3).mean(0), 0.0, atol=0.05)
    np.testing.assert_allclose(x.reshape(-1, 3).std(0), 1.0, atol=0.05)
    assert 0.4 < cifar.mean.min() and cifar.mean.max() < 0.55  # CIFAR-10's known channel means


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(data.DataFileError, match="cifar10_small.npz"):
        input_pipeline.load("cifar10_small", data_dir=tmp_path)


def test_unknown_dataset_and_missing_tfds_are_clear_errors():
    with pytest.raises(ValueError, match="unknown dataset"):
        input_pipeline.load("mnist")
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="tensorflow-datasets"):
            input_pipeline.load("cifar10_tfds")


def test_crop_flip_is_a_translation_or_its_mirror():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    out = np.asarray(jax.jit(input_pipeline.random_crop_flip, static_argnames="pad")(jax.random.key(0), images, pad=2))
    chex.assert_shape(out, images.shape)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    for image, crop in zip(padded, out):
        views = [image[dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
        views += [v[:, ::-1] for v in views]
        assert any(np.array_equal(crop, v) for v in views)


def test_augment_is_keyed_and_random_per_image():
    images = np.tile(np.arange(32, dtype=np.uint8)[None, None, :, None], (1000, 32, 1, 3))  # x-ramp
    mean, std = np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32)
    augment = jax.jit(input_pipeline.augment)
    a = np.asarray(augment(jax.random.key(1), images, mean, std))
    b = np.asarray(augment(jax.random.key(1), images, mean, std))
    c = np.asarray(augment(jax.random.key(2), images, mean, std))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32
    # A flipped ramp decreases along x: about half the images are flipped.
    centre = a[:, 16, 10:20, 0]
    flipped = np.mean(centre[:, 0] > centre[:, -1])
    assert 0.43 < flipped < 0.57


def test_batch_indices_cover_each_epoch_once():
    n, b = 103, 10
    step_fn = jax.jit(lambda s: input_pipeline.batch_indices(jax.random.key(3), s, n, b))
    epoch0 = np.stack([np.asarray(step_fn(s)) for s in range(10)])
    chex.assert_shape(epoch0, (10, 10))
    assert len(np.unique(epoch0)) == 100  # full batches of distinct examples; 3 dropped
    epoch1 = np.stack([np.asarray(step_fn(s)) for s in range(10, 20)])
    assert len(np.unique(epoch1)) == 100 and not np.array_equal(epoch0, epoch1)  # reshuffled
    with pytest.raises(ValueError, match="batch_size"):
        input_pipeline.batch_indices(jax.random.key(0), 0, 5, 6)


def test_validation_split_and_eval_batches(cifar):
    split = input_pipeline.with_validation(cifar, 1000, seed=0)
    assert split.train.size == 9000 and split.valid.size == 1000
    np.testing.assert_array_equal(split.mean, cifar.mean)
    # Held-out images are not in the training part (checked through exact pixel hashes).
    train_hashes = {img.tobytes() for img in split.train.images[:3000]}
    assert not any(img.tobytes() in train_hashes for img in split.valid.images[:200])
    images, labels = input_pipeline.eval_batches(cifar.test, 500)
    chex.assert_shape([images, labels], [(4, 500, 32, 32, 3), (4, 500)])
    with pytest.raises(ValueError, match="divide"):
        input_pipeline.eval_batches(cifar.test, 300)
    assert jnp.asarray(labels).dtype == jnp.int32


def test_downsample_averages_pixel_blocks_of_every_split():
    rng = np.random.default_rng(0)
    split = lambda n: input_pipeline.Split(rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),  # noqa: E731
                                           rng.integers(0, 10, n).astype(np.int32))
    train = split(6)
    mean, std = input_pipeline.channel_stats(train.images)
    data = input_pipeline.with_validation(input_pipeline.ImageData("t", train, split(4), 10, mean, std), 2)
    small = input_pipeline.downsample(data, 4)
    assert small.image_shape == (4, 4, 3) and small.valid.images.shape == (2, 4, 4, 3)
    assert small.test.images.shape == (4, 4, 4, 3) and small.train.images.dtype == np.uint8
    block = data.train.images[1, 2:4, 6:8, 0].astype(np.float64).mean()
    assert small.train.images[1, 1, 3, 0] == np.round(block)
    np.testing.assert_array_equal(small.train.labels, data.train.labels)
    np.testing.assert_allclose(small.mean, input_pipeline.channel_stats(small.train.images)[0])
    assert input_pipeline.downsample(data, 8) is data
    with pytest.raises(ValueError, match="must divide"):
        input_pipeline.downsample(data, 3)


def test_augment_pads_an_eighth_of_the_image_by_default():
    images = np.full((4, 16, 16, 3), 255, np.uint8)
    x = np.asarray(input_pipeline.augment(jax.random.key(0), images, np.zeros(3), np.ones(3)))
    # A crop shifted by at most 2 = 16 // 8 pixels: the centre 12 x 12 is never padding.
    assert (x[:, 2:14, 2:14] == 1.0).all() and (x == 0.0).any()
