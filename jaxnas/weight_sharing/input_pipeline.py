"""Image data for training networks in JAX: CIFAR-10 (the shared 10k subset or tfds).

Images stay uint8 on the device; every step gathers its batch by index and augments it
inside the jitted step, as whole-batch array ops (no Python per-image work):

    data = input_pipeline.load("cifar10_small")           # ImageData, numpy
    idx = input_pipeline.batch_indices(key, step, data.train.size, 64)   # jittable
    x = input_pipeline.augment(aug_key, images[idx], data.mean, data.std)  # crop+flip+normalise
    x_eval = input_pipeline.normalize(test_images, data.mean, data.std)

Augmentation is the standard CIFAR recipe: pad 4 with black pixels, random 32x32 crop,
random horizontal flip, then per-channel normalisation with the training split's mean
and std. Batches have static shapes: each epoch is a fresh permutation of the training
set cut into ``size // batch_size`` full batches (the remainder is dropped that epoch).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import data as data_files

DATASETS = ("cifar10_small", "cifar10_tfds")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclasses.dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 [N, H, W, C]
    labels: np.ndarray  # int32 [N]

    @property
    def size(self) -> int:
        return int(self.labels.shape[0])


@dataclasses.dataclass(frozen=True)
class ImageData:
    name: str
    train: Split
    test: Split
    num_classes: int
    mean: np.ndarray  # float32 [C], per channel, in [0, 1] pixel units (from train)
    std: np.ndarray  # float32 [C]
    valid: Optional[Split] = None  # held out of train by with_validation

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])


def _split(name: str, images: np.ndarray, labels: np.ndarray, num_classes: int) -> Split:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise data_files.DataFileError(f"{name}: images must be uint8 [N, H, W, 3], got {images.dtype} {images.shape}")
    labels = np.asarray(labels).astype(np.int32).reshape(-1)
    if labels.shape[0] != images.shape[0]:
        raise data_files.DataFileError(f"{name}: {images.shape[0]} images but {labels.shape[0]} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise data_files.DataFileError(f"{name}: labels outside [0, {num_classes})")
    return Split(images, labels)


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 images, in [0, 1] units (float64 accumulation)."""
    x = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return x.mean(0).astype(np.float32), x.std(0).astype(np.float32)


def _image_data(name, x_train, y_train, x_test, y_test, num_classes=10) -> ImageData:
    train = _split(f"{name} train", x_train, y_train, num_classes)
    test = _split(f"{name} test", x_test, y_test, num_classes)
    mean, std = channel_stats(train.images)
    return ImageData(name, train, test, num_classes, mean, std)


def load_cifar10_small(data_dir: Optional[str | os.PathLike] = None) -> ImageData:
    """The shared class-balanced CIFAR-10 subset (10,000 train / 2,000 test images)."""
    name = "cifar10_small.npz"
    arrays = data_files.load_npz(name, ["x_train", "y_train", "x_test", "y_test"], data_dir)
    data_files.check_shape(name, "x_train", arrays["x_train"], (None, 32, 32, 3))
    data_files.check_shape(name, "x_test", arrays["x_test"], (None, 32, 32, 3))
    return _image_data("cifar10_small", arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"])


def load_cifar10_tfds(data_dir: Optional[str | os.PathLike] = None) -> ImageData:
    """Full CIFAR-10 (50,000 / 10,000) through tensorflow_datasets (optional dependency)."""
    try:
        import tensorflow_datasets as tfds  # noqa: PLC0415 - optional, heavy
    except ImportError as err:
        raise ImportError(
            "--dataset=cifar10_tfds needs tensorflow-datasets, which is not installed: "
            "pip install -e '.[tfds]' (or use --dataset=cifar10_small, which needs no extra package)"
        ) from err
    splits = tfds.as_numpy(tfds.load("cifar10", split=["train", "test"], batch_size=-1,
                                     as_supervised=True, data_dir=data_dir))
    (x_train, y_train), (x_test, y_test) = splits
    return _image_data("cifar10_tfds", x_train, y_train, x_test, y_test)


def load(name: str = "cifar10_small", data_dir: Optional[str | os.PathLike] = None) -> ImageData:
    """Loads dataset ``name`` (one of DATASETS)."""
    if name == "cifar10_small":
        return load_cifar10_small(data_dir)
    if name == "cifar10_tfds":
        return load_cifar10_tfds(data_dir)
    raise ValueError(f"unknown dataset {name!r}; choose from {DATASETS}")


def with_validation(data: ImageData, num_valid: int, seed: int = 0) -> ImageData:
    """Moves ``num_valid`` random training images (chosen by ``seed``) to ``data.valid``.

    Normalisation statistics stay those of the full training split.
    """
    if not 0 < num_valid < data.train.size:
        raise ValueError(f"num_valid must be in (0, {data.train.size}), got {num_valid}")
    order = np.random.default_rng(seed).permutation(data.train.size)
    held, kept = np.sort(order[:num_valid]), np.sort(order[num_valid:])
    train = Split(data.train.images[kept], data.train.labels[kept])
    valid = Split(data.train.images[held], data.train.labels[held])
    return dataclasses.replace(data, train=train, valid=valid)


def downsample(data: ImageData, size: int) -> ImageData:
    """Every split average-pooled to ``size`` x ``size`` pixels (uint8, rounded): a cheaper
    proxy task (NB201's ImageNet16 is 16 x 16). Normalisation statistics are recomputed
    from the pooled training split. ``size`` must divide the image size."""
    height, width = data.image_shape[:2]
    if size < 1 or height % size or width % size:
        raise ValueError(f"image size {size} must divide the images' {height}x{width}")
    if size == height == width:
        return data

    def pool(split: Optional[Split]) -> Optional[Split]:
        if split is None:
            return None
        n, c = split.images.shape[0], split.images.shape[-1]
        blocks = split.images.reshape(n, size, height // size, size, width // size, c).astype(np.float32)
        return Split(np.round(blocks.mean(axis=(2, 4))).astype(np.uint8), split.labels)

    train = pool(data.train)
    mean, std = channel_stats(train.images)
    return dataclasses.replace(data, train=train, test=pool(data.test), valid=pool(data.valid), mean=mean, std=std)


def normalize(images: jax.Array, mean, std) -> jax.Array:
    """uint8 (or [0, 255] float) images -> float32, per-channel standardised."""
    x = jnp.asarray(images, jnp.float32) / 255.0
    return (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def random_crop_flip(key: jax.Array, images: jax.Array, pad: int = 4) -> jax.Array:
    """Per image: zero-pad by ``pad``, crop back at a random offset, flip with prob. 1/2.

    images [B, H, W, C] (any dtype); keys are per image (vmapped), so it is jittable and
    every image gets its own crop and flip.
    """
    if images.ndim != 4:
        raise ValueError(f"random_crop_flip expects [B, H, W, C] images, got shape {images.shape}")
    height, width = images.shape[1:3]
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))

    def one(key, image):
        offset_key, flip_key = jax.random.split(key)
        dy, dx = jax.random.randint(offset_key, (2,), 0, 2 * pad + 1)
        crop = jax.lax.dynamic_slice(image, (dy, dx, 0), (height, width, image.shape[-1]))
        return jnp.where(jax.random.bernoulli(flip_key), crop[:, ::-1], crop)

    return jax.vmap(one)(jax.random.split(key, images.shape[0]), padded)


def augment(key: jax.Array, images: jax.Array, mean, std, pad: Optional[int] = None) -> jax.Array:
    """Training view of a uint8 batch: crop + flip (black padding), then normalise.

    ``pad`` defaults to an eighth of the image height (4 for CIFAR's 32 x 32)."""
    pad = images.shape[1] // 8 if pad is None else pad
    return normalize(random_crop_flip(key, images, pad), mean, std)


def batch_indices(key: jax.Array, step, num_examples: int, batch_size: int) -> jax.Array:
    """int32[batch_size]: the examples of training step ``step`` (jittable, step traced).

    Epoch e = step // (num_examples // batch_size) is the permutation keyed by
    fold_in(key, e), cut into full batches, so a run's batches do not depend on how its
    steps are chunked.
    """
    if not 0 < batch_size <= num_examples:
        raise ValueError(f"batch_size must be in (0, {num_examples}], got {batch_size}")
    per_epoch = num_examples // batch_size
    epoch, position = jnp.divmod(jnp.asarray(step, jnp.int32), per_epoch)
    order = jax.random.permutation(jax.random.fold_in(key, epoch), num_examples)
    return jax.lax.dynamic_slice(order, (position * batch_size,), (batch_size,)).astype(jnp.int32)


def eval_batches(split: Split, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The whole split as [num_batches, batch_size, ...] for lax.map (static shapes).

    ``batch_size`` must divide the split's size, so every image counts exactly once and
    every batch is large enough for batch-statistics BN.
    """
    if batch_size <= 0 or split.size % batch_size:
        raise ValueError(f"eval batch size {batch_size} must divide the split size {split.size}")
    n = split.size // batch_size
    return (split.images.reshape(n, batch_size, *split.images.shape[1:]),
            split.labels.reshape(n, batch_size))
