"""Image transforms and augmentations (docs/reference.md §8.5).

Pipelines: train = augmenter on the PIL image -> ToTensor -> `ImageTransform`; valid/test = ToTensor ->
`ImageTestTransform` -> `ImageTransform`. Tensor resizes pass ``antialias`` explicitly: False by default,
which reproduces the reference's torchvision 0.11 numbers (docs/reference.md §13.10).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2 as T
from torchvision.transforms.v2 import functional as F

TENSOR_ANTIALIAS = False


def to_pil(image) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB") if image.mode != "RGB" else image
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(array.astype(np.uint8), "RGB")


def to_tensor(image) -> torch.Tensor:
    """HWC uint8 array / PIL image -> (3, H, W) float32 in [0, 1] (tensors pass through)."""
    if isinstance(image, torch.Tensor):
        return image
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float().div_(255.0)


class ImageTransform(torch.nn.Module):
    """Resize(image_size, shorter side) + CenterCrop(image_size) (or a square resize), then Normalize.

    Input (3, H, W) float tensor; output (3, S, S).
    """

    def __init__(self, image_size: int = 112, center_crop: bool = True, mean=(0.5, 0.5, 0.5),
                 std=(0.5, 0.5, 0.5), antialias: bool = TENSOR_ANTIALIAS):
        super().__init__()
        self.image_size = int(image_size)
        self.center_crop = center_crop
        self.mean = list(mean)
        self.std = list(std)
        self.antialias = antialias

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        size = self.image_size
        if self.center_crop:
            if min(image.shape[-2:]) != size:
                image = F.resize(image, [size], interpolation=InterpolationMode.BILINEAR, antialias=self.antialias)
            if tuple(image.shape[-2:]) != (size, size):
                image = F.center_crop(image, [size, size])
        elif tuple(image.shape[-2:]) != (size, size):
            image = F.resize(image, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=self.antialias)
        return F.normalize(image, self.mean, self.std)


class ImageTestTransform(torch.nn.Module):
    """If ``prescale_size``: Resize(prescale) (shorter side, or square without ``preserve_aspect``) then
    CenterCrop(image_size). Input and output (3, H, W) float tensors."""

    def __init__(self, image_size: int, prescale_size: int | None = None, preserve_aspect: bool = True,
                 antialias: bool = TENSOR_ANTIALIAS):
        super().__init__()
        self.image_size = int(image_size)
        self.prescale_size = prescale_size
        self.preserve_aspect = preserve_aspect
        self.antialias = antialias

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.prescale_size is None:
            return image
        size = [self.prescale_size] if self.preserve_aspect else [self.prescale_size, self.prescale_size]
        if (self.preserve_aspect and min(image.shape[-2:]) != self.prescale_size) or (
                not self.preserve_aspect and tuple(image.shape[-2:]) != tuple(size)):
            image = F.resize(image, size, interpolation=InterpolationMode.BILINEAR, antialias=self.antialias)
        return F.center_crop(image, [self.image_size, self.image_size])


class Cutout(torch.nn.Module):
    """Zero ``n_holes`` squares of side ``size * min(H, W)`` with probability ``probability`` (PIL in/out)."""

    def __init__(self, n_holes: int, size: float, probability: float = 0.5):
        super().__init__()
        self.n_holes, self.size, self.probability = n_holes, size, probability

    def forward(self, image: Image.Image) -> Image.Image:
        if self.n_holes <= 0 or self.size <= 0 or torch.rand(()) >= self.probability:
            return image
        array = np.array(image)
        height, width = array.shape[:2]
        side = max(1, int(round(self.size * min(height, width))))
        for _ in range(self.n_holes):
            y, x = int(torch.randint(height, ())), int(torch.randint(width, ()))
            array[max(0, y - side // 2) : y + (side + 1) // 2, max(0, x - side // 2) : x + (side + 1) // 2] = 0
        return Image.fromarray(array)


class ImageAugmenter:
    """Random augmentations on PIL images, in the reference's order (docs/reference.md §8.5):
    RandomResizedCrop -> AutoAugment -> RandAugment -> HorizontalFlip -> ColorJitter -> Cutout ->
    RandomRotation -> RandomAffine(translate). Randomness comes from torch's RNG (the loaders fork and
    seed it per item, so augmentations are reproducible)."""

    def __init__(self, image_size: int, random_crop_scale=(1.0, 1.0), random_crop_ratio=(1.0, 1.0),
                 random_flip_probability: float = 0.5, brightness_range: float = 0.0, contrast_range: float = 0.0,
                 saturation_range: float = 0.0, autoaug: str | None = None, randaug_num: int = 2,
                 randaug_magnitude: int = 0, cutout_n_holes: int = 0, cutout_size: float = 0.0,
                 cutout_probability: float = 0.5, translate_ratios=(0.0, 0.0), rotation_max_angle: float = 0.0):
        steps = []
        if tuple(random_crop_scale) != (1.0, 1.0) or tuple(random_crop_ratio) != (1.0, 1.0):
            steps.append(T.RandomResizedCrop(image_size, scale=tuple(random_crop_scale),
                                             ratio=tuple(random_crop_ratio), antialias=True))
        if autoaug is not None:
            policy = {"imagenet": T.AutoAugmentPolicy.IMAGENET, "cifar10": T.AutoAugmentPolicy.CIFAR10,
                      "svhn": T.AutoAugmentPolicy.SVHN}[autoaug]
            steps.append(T.AutoAugment(policy))
        if randaug_magnitude > 0:
            steps.append(T.RandAugment(num_ops=randaug_num, magnitude=randaug_magnitude))
        if random_flip_probability > 0:
            steps.append(T.RandomHorizontalFlip(random_flip_probability))
        if brightness_range or contrast_range or saturation_range:
            steps.append(T.ColorJitter(brightness=brightness_range, contrast=contrast_range,
                                       saturation=saturation_range))
        if cutout_n_holes > 0 and cutout_size > 0:
            steps.append(Cutout(cutout_n_holes, cutout_size, cutout_probability))
        if rotation_max_angle > 0:
            steps.append(T.RandomRotation(rotation_max_angle))
        if any(translate_ratios):
            steps.append(T.RandomAffine(degrees=0, translate=tuple(translate_ratios)))
        self.steps = steps

    def __call__(self, image) -> Image.Image:
        image = to_pil(image)
        for step in self.steps:
            image = step(image)
        return image

    def __repr__(self) -> str:
        return f"ImageAugmenter({', '.join(type(s).__name__ for s in self.steps)})"


class TrainPipeline:
    """augmenter (PIL) -> ToTensor -> ImageTransform: image -> (3, S, S) float32."""

    def __init__(self, params):
        size = params.transform_params.image_size
        augmenter = params.augmenter_params
        self.augmenter = ImageAugmenter(size, **{k: getattr(augmenter, k) for k in augmenter.__dataclass_fields__})
        transform = params.transform_params
        self.transform = ImageTransform(transform.image_size, transform.center_crop, transform.mean, transform.std)

    def __call__(self, image) -> torch.Tensor:
        if self.augmenter.steps:
            image = self.augmenter(image)
        return self.transform(to_tensor(image))


class TestPipeline:
    """ToTensor -> ImageTestTransform -> ImageTransform: image -> (3, S, S) float32."""

    def __init__(self, params):
        transform = params.transform_params
        test = params.transform_test_params
        self.test_transform = ImageTestTransform(transform.image_size, test.prescale_size, test.preserve_aspect)
        self.transform = ImageTransform(transform.image_size, transform.center_crop, transform.mean, transform.std)

    def __call__(self, image) -> torch.Tensor:
        return self.transform(self.test_transform(to_tensor(image)))
