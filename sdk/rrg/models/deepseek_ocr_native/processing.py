"""DeepSeek-OCR's image protocol and prompt layout, as its published ``infer()`` lays them out.

Two modes:

- **base** (the study's protocol): one global view. Images larger than 640 px are padded to a
  square of ``base_size`` (1024) with the model's own ``ImageOps.pad`` (bicubic, grey 127 border),
  smaller view sizes (512, 640) are resized straight to the square, as the published code does.
  1024 px gives 16 rows × (16 tokens + 1 newline) + 1 view separator = 273 image tokens.
- **tiled** (the published code's ``crop_mode``): the global view padded to ``base_size`` plus
  ``tile_size`` (640) tiles of the image resized to the best grid of 2 to 9 tiles; images of at
  most 640 px on both sides get no tiles.

Pixels go through ``ToTensor`` and ``Normalize(0.5, 0.5)`` arithmetic and are rounded to bfloat16,
as the published code hands them to the model; they are returned as float32 tensors.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from transformers import BatchFeature
from transformers.image_processing_base import ImageProcessingMixin
from transformers.processing_utils import ProcessorMixin

ImageMode = Literal["base", "tiled"]
IMAGE_MODES: tuple[str, ...] = ("base", "tiled")


def best_tile_grid(width: int, height: int, tile_size: int, min_tiles: int, max_tiles: int) -> tuple[int, int]:
    """The (columns, rows) grid whose aspect ratio is closest to the image's (ties go to the larger
    grid when the image is big enough to fill it), among grids of ``min_tiles``–``max_tiles`` tiles."""
    ratios = sorted(
        {
            (i, j)
            for n in range(min_tiles, max_tiles + 1)
            for i in range(1, n + 1)
            for j in range(1, n + 1)
            if min_tiles <= i * j <= max_tiles
        },
        key=lambda r: r[0] * r[1],
    )
    aspect = width / height
    best, best_diff = (1, 1), float("inf")
    for columns, rows in ratios:
        diff = abs(aspect - columns / rows)
        if diff < best_diff:
            best, best_diff = (columns, rows), diff
        elif diff == best_diff and width * height > 0.5 * tile_size * tile_size * columns * rows:
            best = (columns, rows)
    return best


class DeepseekOcrImageProcessor(ImageProcessingMixin):
    """Turns PIL images into DeepSeek-OCR's global views (and tiles) in Base or tiled mode."""

    model_input_names = ["pixel_values", "pixel_values_crops", "images_spatial_crop"]

    def __init__(
        self,
        mode: ImageMode = "base",
        base_size: int = 1024,
        tile_size: int = 640,
        min_tiles: int = 2,
        max_tiles: int = 9,
        image_mean: tuple[float, float, float] | list[float] = (0.5, 0.5, 0.5),
        image_std: tuple[float, float, float] | list[float] = (0.5, 0.5, 0.5),
        round_to_bfloat16: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in IMAGE_MODES:
            raise ValueError(f"image mode {mode!r} is not one of {', '.join(IMAGE_MODES)}")
        self.mode = mode
        self.base_size = int(base_size)
        self.tile_size = int(tile_size)
        self.min_tiles = int(min_tiles)
        self.max_tiles = int(max_tiles)
        self.image_mean = [float(v) for v in image_mean]
        self.image_std = [float(v) for v in image_std]
        self.round_to_bfloat16 = bool(round_to_bfloat16)

    # ------------------------------------------------------------ views

    def tile_grid(self, image: Any) -> tuple[int, int]:
        """(columns, rows) of the image's tiles; (1, 1) means the global view alone."""
        if self.mode != "tiled" or (image.size[0] <= self.tile_size and image.size[1] <= self.tile_size):
            return (1, 1)
        return best_tile_grid(image.size[0], image.size[1], self.tile_size, self.min_tiles, self.max_tiles)

    def global_view(self, image: Any) -> Any:
        from PIL import ImageOps

        size = self.base_size
        fill = tuple(int(m * 255) for m in self.image_mean)
        if self.mode == "base" and size <= 640:
            return image.resize((size, size))
        return ImageOps.pad(image, (size, size), color=fill)

    def tiles(self, image: Any, grid: tuple[int, int]) -> list[Any]:
        columns, rows = grid
        if columns * rows == 1:
            return []
        side = self.tile_size
        resized = image.resize((side * columns, side * rows))
        return [
            resized.crop(((i % columns) * side, (i // columns) * side, (i % columns + 1) * side, (i // columns + 1) * side))
            for i in range(columns * rows)
        ]

    def to_tensor(self, image: Any) -> Any:
        import numpy as np
        import torch

        array = np.asarray(image.convert("RGB"), dtype=np.uint8)
        pixels = torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(255)
        mean = torch.tensor(self.image_mean).view(3, 1, 1)
        std = torch.tensor(self.image_std).view(3, 1, 1)
        pixels = pixels.sub(mean).div(std)
        if self.round_to_bfloat16:
            pixels = pixels.to(torch.bfloat16).float()
        return pixels

    def __call__(self, images: list[Any], return_tensors: str | None = "pt", **kwargs: Any) -> BatchFeature:
        import torch

        views, crops, grids = [], [], []
        for image in images:
            image = image.convert("RGB")
            grid = self.tile_grid(image)
            grids.append(list(grid))
            views.append(self.to_tensor(self.global_view(image)))
            crops.extend(self.to_tensor(tile) for tile in self.tiles(image, grid))
        data: dict[str, Any] = {
            "pixel_values": torch.stack(views) if views else torch.zeros(0, 3, self.base_size, self.base_size),
            "images_spatial_crop": torch.tensor(grids, dtype=torch.long).view(-1, 2),
        }
        if crops:
            data["pixel_values_crops"] = torch.stack(crops)
        return BatchFeature(data=data, tensor_type=return_tensors)


class DeepseekOcrProcessor(ProcessorMixin):
    """Tokenizer + image processor. Each ``<image>`` in a prompt becomes the image's token count
    (global grid with a newline per row, the view separator, then any tiles' grid)."""

    attributes = ["image_processor", "tokenizer"]
    image_processor_class = "DeepseekOcrImageProcessor"
    tokenizer_class = "AutoTokenizer"

    def __init__(
        self,
        image_processor: DeepseekOcrImageProcessor | None = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        patch_size: int = 16,
        downsample_ratio: int = 4,
        **kwargs: Any,
    ) -> None:
        self.image_token = "<image>"
        self.patch_size = patch_size
        self.downsample_ratio = downsample_ratio
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)

    def _side(self, pixels: int) -> int:
        return math.ceil(pixels // self.patch_size / self.downsample_ratio)

    def image_token_count(self, grid: tuple[int, int] | list[int]) -> int:
        """Tokens one image takes in the prompt, for its (columns, rows) tile grid."""
        n = self._side(self.image_processor.base_size)
        count = n * (n + 1) + 1
        columns, rows = grid
        if columns > 1 or rows > 1:
            m = self._side(self.image_processor.tile_size)
            count += (m * columns + 1) * (m * rows)
        return count

    def __call__(
        self,
        images: Any = None,
        text: str | list[str] | None = None,
        padding: bool | str = False,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        add_special_tokens: bool = False,
        **kwargs: Any,
    ) -> BatchFeature:
        if text is None:
            raise ValueError("DeepSeek-OCR's processor needs text (a prompt with one <image> per image)")
        texts = [text] if isinstance(text, str) else list(text)
        flat = _flat_images(images)
        image_inputs: dict[str, Any] = {}
        expanded = texts
        if flat:
            image_inputs = dict(self.image_processor(flat, return_tensors="pt"))
            grids = image_inputs["images_spatial_crop"].tolist()
            placeholders = sum(t.count(self.image_token) for t in texts)
            if placeholders != len(flat):
                raise ValueError(f"the prompts hold {placeholders} {self.image_token} placeholders for {len(flat)} images")
            expanded, used = [], 0
            for t in texts:
                parts = t.split(self.image_token)
                out = parts[0]
                for part in parts[1:]:
                    out += self.image_token * self.image_token_count(grids[used]) + part
                    used += 1
                expanded.append(out)
        tokenizer_kwargs = {"padding": padding, "add_special_tokens": add_special_tokens}
        if padding_side is not None:
            tokenizer_kwargs["padding_side"] = padding_side
        for key in ("truncation", "max_length", "return_attention_mask"):
            if key in kwargs:
                tokenizer_kwargs[key] = kwargs[key]
        encoded = self.tokenizer(expanded, return_tensors=return_tensors, **tokenizer_kwargs)
        return BatchFeature(data={**encoded, **image_inputs}, tensor_type=return_tensors)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", *self.image_processor.model_input_names]


def _flat_images(images: Any) -> list[Any]:
    if images is None:
        return []
    if not isinstance(images, (list, tuple)):
        return [images]
    flat: list[Any] = []
    for item in images:
        flat.extend(_flat_images(item) if isinstance(item, (list, tuple)) else [item])
    return flat
