"""DeepSeek-OCR (v1) built from transformers and PyTorch parts, under the official weight names.

The module tree mirrors the published checkpoint (``model.sam_model.blocks.N...``,
``model.vision_model.transformer.layers.N...``, ``model.projector.layers``,
``model.layers.N.mlp.experts.E.gate_proj``, ``lm_head``), so ``from_pretrained`` reads the official
``model.safetensors`` as it is, and LoRA adapters name the same modules as adapters trained on the
published remote code.

Data flow for one image view (Base mode: one 1024 px global view)::

    pixels ─ SAM-B (16 px patches, windowed + global attention) ─ neck ─ 2 stride-2 convs ─▶ (1024, 16, 16)
           └─ CLIP-L, fed SAM's features as its patch embeddings ─▶ (257, 1024), CLS dropped
    concat(CLIP, SAM) ─ linear projector ─▶ 16×16 tokens of the decoder's width
    rows of 16 tokens, each followed by ``image_newline`` ─ then ``view_seperator`` ─▶ 273 embeddings

which replace the 273 ``<image>`` tokens of the prompt. In the tiled mode, each image's 640 px
tiles come first (laid out as one grid with a newline per row), then its global view, then the
separator. The decoder is DeepSeek-V2's: RMSNorm, multi-head attention with RoPE (or MLA when the
config says ``use_mla: true``), a dense MLP in the first ``first_k_dense_replace`` layers and a
mixture of experts (softmax router, top-k, shared experts) after.

Reused from transformers: SAM's relative-position attention and MLP block and its channels-first
LayerNorm (DeepSeek-OCR-2), the decoder's attention, MLP, RMSNorm and rotary embedding
(DeepSeek-OCR-2's text model, and DeepSeek-V2's MLA), masks, caches and generation.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.models.deepseek_ocr2.modeling_deepseek_ocr2 import (
    DeepseekOcr2SamLayerNorm,
    DeepseekOcr2SamMLPBlock,
    DeepseekOcr2SamVisionSdpaAttention,
    DeepseekOcr2TextAttention,
    DeepseekOcr2TextMLP,
    DeepseekOcr2TextRMSNorm,
    DeepseekOcr2TextRotaryEmbedding,
)

from rrg.models.deepseek_ocr_native.configuration import DeepseekOcrConfig

# ---------------------------------------------------------------------------------------- SAM


def _resize_grid(pos: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic (antialiased) resize of a ``(1, H, W, C)`` position table to ``size × size``."""
    if pos.shape[1] == size and pos.shape[2] == size:
        return pos
    resized = F.interpolate(
        pos.permute(0, 3, 1, 2).float(), size=(size, size), mode="bicubic", antialias=True, align_corners=False
    )
    return resized.to(pos.dtype).permute(0, 2, 3, 1)


def _window_partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    batch, height, width, channels = x.shape
    pad_h, pad_w = (window - height % window) % window, (window - width % window) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = height + pad_h, width + pad_w
    x = x.view(batch, hp // window, window, wp // window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, channels), (hp, wp)


def _window_unpartition(windows: torch.Tensor, window: int, padded: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    hp, wp = padded
    batch = windows.shape[0] // (hp * wp // window // window)
    x = windows.view(batch, hp // window, wp // window, window, window, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch, hp, wp, -1)
    return x[:, : size[0], : size[1], :].contiguous()


class SamBlock(nn.Module):
    """A ViTDet block: pre-norm (windowed or global) attention with decomposed relative positions, then MLP."""

    def __init__(self, settings: SimpleNamespace, window_size: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(settings.hidden_size, eps=1e-6)
        self.attn = DeepseekOcr2SamVisionSdpaAttention(settings, window_size)
        self.norm2 = nn.LayerNorm(settings.hidden_size, eps=1e-6)
        self.mlp = DeepseekOcr2SamMLPBlock(settings)
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            size = (x.shape[1], x.shape[2])
            x, padded = _window_partition(x, self.window_size)
        x = self.attn(x)[0]
        if self.window_size > 0:
            x = _window_unpartition(x, self.window_size, padded, size)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class SamPatchEmbed(nn.Module):
    def __init__(self, patch_size: int, width: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.proj(pixels).permute(0, 2, 3, 1)


class SamEncoder(nn.Module):
    """SAM ViT-B and DeepSeek-OCR's 16× compressor: ``(B, 3, S, S)`` → ``(B, C, S/64, S/64)``."""

    def __init__(self, config: DeepseekOcrConfig) -> None:
        super().__init__()
        sam = config.sam
        settings = SimpleNamespace(
            hidden_size=sam.width,
            num_attention_heads=sam.heads,
            attention_dropout=0.0,
            qkv_bias=True,
            use_rel_pos=True,
            image_size=sam.image_size,
            patch_size=sam.patch_size,
            mlp_dim=int(sam.width * sam.mlp_ratio),
            hidden_act="gelu",
        )
        grid = sam.image_size // sam.patch_size
        self.patch_embed = SamPatchEmbed(sam.patch_size, sam.width)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, sam.width))
        self.blocks = nn.ModuleList(
            SamBlock(settings, 0 if i in sam.global_attn_indexes else sam.window_size) for i in range(sam.layers)
        )
        out = sam.out_channels
        self.neck = nn.Sequential(
            nn.Conv2d(sam.width, out, kernel_size=1, bias=False),
            DeepseekOcr2SamLayerNorm(out, data_format="channels_first"),
            nn.Conv2d(out, out, kernel_size=3, padding=1, bias=False),
            DeepseekOcr2SamLayerNorm(out, data_format="channels_first"),
        )
        first, second = sam.downsample_channels
        self.net_2 = nn.Conv2d(out, first, kernel_size=3, stride=2, padding=1, bias=False)
        self.net_3 = nn.Conv2d(first, second, kernel_size=3, stride=2, padding=1, bias=False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(pixels)
        x = x + _resize_grid(self.pos_embed, x.shape[1])
        for block in self.blocks:
            x = block(x)
        x = self.neck(x.permute(0, 3, 1, 2))
        return self.net_3(self.net_2(x))


# --------------------------------------------------------------------------------------- CLIP


class ClipEmbeddings(nn.Module):
    def __init__(self, width: int, image_size: int, patch_size: int) -> None:
        super().__init__()
        self.class_embedding = nn.Parameter(torch.zeros(width))
        # kept for the checkpoint's layout: DeepSeek-OCR feeds SAM's features in its place
        self.patch_embedding = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        positions = (image_size // patch_size) ** 2 + 1
        self.position_embedding = nn.Embedding(positions, width)
        self.register_buffer("position_ids", torch.arange(positions).expand((1, -1)), persistent=False)

    def forward(self, patch_embeds: torch.Tensor) -> torch.Tensor:
        """``patch_embeds``: ``(B, C, h, w)`` SAM features → ``(B, 1 + h·w, C)`` with positions."""
        patches = patch_embeds.flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(patches.shape[0], 1, -1).to(patches.dtype)
        x = torch.cat([cls, patches], dim=1)
        table = self.position_embedding(self.position_ids)
        side = math.isqrt(x.shape[1] - 1)
        if table.shape[1] != x.shape[1]:
            grid = table[:, 1:].reshape(1, math.isqrt(table.shape[1] - 1), -1, table.shape[-1])
            table = torch.cat([table[:, :1], _resize_grid(grid, side).reshape(1, side * side, -1)], dim=1)
        return x + table


class ClipAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv_proj = nn.Linear(width, width * 3)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv_proj(x).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(out.permute(0, 2, 1, 3).reshape(batch, length, width))


class ClipMLP(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)
        self.act = ACT2FN["quick_gelu"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ClipLayer(nn.Module):
    def __init__(self, width: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.self_attn = ClipAttention(width, heads)
        self.mlp = ClipMLP(width, ffn)
        self.layer_norm1 = nn.LayerNorm(width, eps=1e-5)
        self.layer_norm2 = nn.LayerNorm(width, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class ClipTransformer(nn.Module):
    def __init__(self, width: int, heads: int, ffn: int, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ClipLayer(width, heads, ffn) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class ClipEncoder(nn.Module):
    """CLIP-L without its own patch embedding: reads SAM's compressed features as patches."""

    def __init__(self, config: DeepseekOcrConfig) -> None:
        super().__init__()
        clip = config.clip
        self.embeddings = ClipEmbeddings(clip.width, clip.image_size, clip.patch_size)
        self.transformer = ClipTransformer(clip.width, clip.heads, clip.ffn_size, clip.layers)
        self.pre_layrnorm = nn.LayerNorm(clip.width, eps=1e-5)

    def forward(self, sam_features: torch.Tensor) -> torch.Tensor:
        return self.transformer(self.pre_layrnorm(self.embeddings(sam_features)))


class Projector(nn.Module):
    def __init__(self, input_dim: int, n_embed: int) -> None:
        super().__init__()
        self.layers = nn.Linear(input_dim, n_embed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


# ------------------------------------------------------------------------------------ decoder


class _AuxiliaryLoss(torch.autograd.Function):
    """Identity on ``x`` whose backward also sends a gradient of one into ``loss`` (DeepSeek-V2's
    way of adding the router's balance loss without changing the model's output)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        ctx.loss_dtype = loss.dtype
        ctx.needs_loss = loss.requires_grad
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        loss_grad = torch.ones(1, dtype=ctx.loss_dtype, device=grad.device) if ctx.needs_loss else None
        return grad, loss_grad


class MoEGate(nn.Module):
    """Softmax router over the routed experts (greedy or group-limited top-k) with DeepSeek-V2's
    sequence-level balance loss in training."""

    def __init__(self, config: DeepseekOcrConfig) -> None:
        super().__init__()
        self.config = config
        self.weight = nn.Parameter(torch.zeros(config.n_routed_experts, config.hidden_size))

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        config = self.config
        batch, length, width = hidden.shape
        logits = F.linear(hidden.reshape(-1, width).float(), self.weight.float())
        scores = logits.softmax(dim=-1, dtype=torch.float32)
        k = config.num_experts_per_tok
        if config.topk_method == "group_limited_greedy":
            groups = scores.view(batch * length, config.n_group, -1).max(dim=-1).values
            keep = torch.zeros_like(groups).scatter_(1, torch.topk(groups, k=config.topk_group, dim=-1, sorted=False)[1], 1)
            keep = keep.unsqueeze(-1).expand(-1, config.n_group, config.n_routed_experts // config.n_group)
            weights, index = torch.topk(scores.masked_fill(~keep.reshape(batch * length, -1).bool(), 0.0), k=k, dim=-1, sorted=False)
        else:
            weights, index = torch.topk(scores, k=k, dim=-1, sorted=False)
        if k > 1 and config.norm_topk_prob:
            weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-20)
        weights = weights * config.routed_scaling_factor
        aux = None
        if self.training and config.aux_loss_alpha > 0:
            experts = config.n_routed_experts
            if config.seq_aux:
                load = torch.zeros(batch, experts, device=hidden.device)
                load.scatter_add_(1, index.view(batch, -1), torch.ones(batch, length * k, device=hidden.device))
                load = load.div_(length * k / experts)
                aux = (load * scores.view(batch, length, -1).mean(dim=1)).sum(dim=1).mean() * config.aux_loss_alpha
            else:
                load = F.one_hot(index.view(-1), num_classes=experts).float().mean(0)
                aux = (scores.mean(0) * load * experts).sum() * config.aux_loss_alpha
        return index, weights, aux


class DeepseekOcrMoE(nn.Module):
    """Routed experts (one gated MLP each, as in the checkpoint) plus always-on shared experts."""

    def __init__(self, config: DeepseekOcrConfig) -> None:
        super().__init__()
        self.experts = nn.ModuleList(
            DeepseekOcr2TextMLP(config, intermediate_size=config.moe_intermediate_size)
            for _ in range(config.n_routed_experts)
        )
        self.gate = MoEGate(config)
        self.shared_experts = (
            DeepseekOcr2TextMLP(config, intermediate_size=config.moe_intermediate_size * config.n_shared_experts)
            if config.n_shared_experts
            else None
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        shape = hidden.shape
        index, weights, aux = self.gate(hidden)
        flat = hidden.reshape(-1, shape[-1])
        routed = torch.zeros(flat.shape, dtype=weights.dtype, device=flat.device)
        for expert_id in index.unique().tolist():
            token, slot = torch.where(index == expert_id)
            out = self.experts[expert_id](flat[token]) * weights[token, slot, None]
            routed = routed.index_add(0, token, out.to(routed.dtype))
        output = routed.to(hidden.dtype).view(shape)
        if aux is not None:
            output = _AuxiliaryLoss.apply(output, aux)
        if self.shared_experts is not None:
            output = output + self.shared_experts(hidden)
        return output


def _mla_config(config: DeepseekOcrConfig) -> Any:
    """The DeepSeek-V2 config transformers' MLA attention and its rotary embedding read."""
    from transformers import DeepseekV2Config

    return DeepseekV2Config(
        hidden_size=config.hidden_size,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        kv_lora_rank=config.kv_lora_rank,
        q_lora_rank=config.q_lora_rank,
        qk_rope_head_dim=config.qk_rope_head_dim,
        qk_nope_head_dim=config.qk_nope_head_dim,
        v_head_dim=config.v_head_dim,
        attention_bias=config.attention_bias,
        attention_dropout=config.attention_dropout,
        max_position_embeddings=config.max_position_embeddings,
        rope_parameters=dict(config.rope_parameters),
        rms_norm_eps=config.rms_norm_eps,
        n_routed_experts=max(config.n_routed_experts or 1, 1),
        num_experts_per_tok=config.num_experts_per_tok,
    )


class DeepseekOcrDecoderLayer(GradientCheckpointingLayer):
    def __init__(self, config: DeepseekOcrConfig, layer_idx: int, mla_config: Any = None) -> None:
        super().__init__()
        if mla_config is not None:
            from transformers.models.deepseek_v2.modeling_deepseek_v2 import DeepseekV2Attention

            mla_config._attn_implementation = config._attn_implementation
            self.self_attn = DeepseekV2Attention(mla_config, layer_idx)
        else:
            self.self_attn = DeepseekOcr2TextAttention(config, layer_idx)
        sparse = (
            config.n_routed_experts is not None
            and layer_idx >= config.first_k_dense_replace
            and layer_idx % config.moe_layer_freq == 0
        )
        self.mlp = DeepseekOcrMoE(config) if sparse else DeepseekOcr2TextMLP(config)
        self.input_layernorm = DeepseekOcr2TextRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = DeepseekOcr2TextRMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_embeddings: Any = None,
        cache: Cache | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        residual = hidden_states
        hidden_states, _ = self.self_attn(
            hidden_states=self.input_layernorm(hidden_states),
            attention_mask=attention_mask,
            position_embeddings=position_embeddings,
            cache=cache,
            **kwargs,
        )
        hidden_states = residual + hidden_states
        return hidden_states + self.mlp(self.post_attention_layernorm(hidden_states))


# -------------------------------------------------------------------------------------- model


class DeepseekOcrPreTrainedModel(PreTrainedModel):
    config_class = DeepseekOcrConfig
    config: DeepseekOcrConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = False
    _supports_flex_attn = False
    _supports_attention_backend = True
    _no_split_modules = ["SamBlock", "ClipLayer", "DeepseekOcrDecoderLayer"]
    _keys_to_ignore_on_load_unexpected = [r"rotary_emb\.inv_freq"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Fresh weights for a model built from a config (tiny twins); ``init.*`` leaves loaded
        tensors alone, so ``from_pretrained`` only fills what the checkpoint lacks."""
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, MoEGate):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, ClipEmbeddings):
            init.normal_(module.class_embedding, mean=0.0, std=std)
            init.copy_(module.position_ids, torch.arange(module.position_ids.shape[1]).expand((1, -1)))
        elif isinstance(module, SamEncoder):
            init.normal_(module.pos_embed, mean=0.0, std=std)
        elif isinstance(module, DeepseekOcr2SamVisionSdpaAttention):
            init.zeros_(module.rel_pos_h)
            init.zeros_(module.rel_pos_w)
        elif isinstance(module, DeepseekOcrModel):
            embed_std = 1 / math.sqrt(self.config.hidden_size)
            init.normal_(module.image_newline, mean=0.0, std=embed_std)
            init.normal_(module.view_seperator, mean=0.0, std=embed_std)
        elif isinstance(module, DeepseekOcr2TextRotaryEmbedding):
            inv_freq, _ = module.compute_default_rope_parameters(module.config)
            init.copy_(module.inv_freq, inv_freq)
            init.copy_(module.original_inv_freq, inv_freq)


class DeepseekOcrModel(DeepseekOcrPreTrainedModel):
    """The vision encoders, projector and decoder (no LM head). ``forward`` returns hidden states."""

    def __init__(self, config: DeepseekOcrConfig) -> None:
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        mla = _mla_config(config) if config.use_mla else None
        self.layers = nn.ModuleList(
            DeepseekOcrDecoderLayer(config, i, mla) for i in range(config.num_hidden_layers)
        )
        self.norm = DeepseekOcr2TextRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        if mla is not None:
            from transformers.models.deepseek_v2.modeling_deepseek_v2 import (
                DeepseekV2RotaryEmbedding,
            )

            self.rotary_emb = DeepseekV2RotaryEmbedding(mla)
        else:
            self.rotary_emb = DeepseekOcr2TextRotaryEmbedding(config)
        self.sam_model = SamEncoder(config)
        self.vision_model = ClipEncoder(config)
        self.projector = Projector(int(config.projector_config.get("input_dim", 2048)), config.hidden_size)
        self.image_newline = nn.Parameter(torch.zeros(config.hidden_size))
        self.view_seperator = nn.Parameter(torch.zeros(config.hidden_size))
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.embed_tokens = value

    # ------------------------------------------------------------ vision

    def encode_views(self, pixels: torch.Tensor) -> torch.Tensor:
        """Views ``(N, 3, S, S)`` → projected features ``(N, (S/64)², hidden)``."""
        sam = self.sam_model(pixels)
        clip = self.vision_model(sam)
        features = torch.cat([clip[:, 1:], sam.flatten(2).permute(0, 2, 1)], dim=-1)
        return self.projector(features)

    def _with_newlines(self, grid: torch.Tensor) -> torch.Tensor:
        """``(rows, cols, hidden)`` → rows each followed by ``image_newline``, flattened."""
        newline = self.image_newline.to(grid.dtype)[None, None, :].expand(grid.shape[0], 1, grid.shape[-1])
        return torch.cat([grid, newline], dim=1).reshape(-1, grid.shape[-1])

    def image_embeddings(
        self,
        pixel_values: torch.Tensor,
        pixel_values_crops: torch.Tensor | None = None,
        images_spatial_crop: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Every image's embeddings in prompt order: [tiles grid], global view grid, separator."""
        trainable = any(p.requires_grad for p in self.sam_model.parameters()) or any(
            p.requires_grad for p in self.vision_model.parameters()
        )
        with torch.set_grad_enabled(torch.is_grad_enabled() and trainable):
            dtype = self.projector.layers.weight.dtype
            global_features = self.encode_views(pixel_values.to(dtype))
            crops = None
            if pixel_values_crops is not None and pixel_values_crops.shape[0] > 0:
                crops = self.encode_views(pixel_values_crops.to(dtype))
        side = math.isqrt(global_features.shape[1])
        pieces, used = [], 0
        for i in range(global_features.shape[0]):
            columns, rows = (int(v) for v in images_spatial_crop[i]) if images_spatial_crop is not None else (1, 1)
            if crops is not None and (columns > 1 or rows > 1):
                tiles = crops[used : used + columns * rows]
                used += columns * rows
                tile_side = math.isqrt(tiles.shape[1])
                grid = (
                    tiles.view(rows, columns, tile_side, tile_side, -1)
                    .permute(0, 2, 1, 3, 4)
                    .reshape(rows * tile_side, columns * tile_side, -1)
                )
                pieces.append(self._with_newlines(grid))
            pieces.append(self._with_newlines(global_features[i].view(side, side, -1)))
            pieces.append(self.view_seperator.to(global_features.dtype)[None, :])
        return torch.cat(pieces, dim=0)

    # ------------------------------------------------------------ forward

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        pixel_values_crops: torch.Tensor | None = None,
        images_spatial_crop: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        past_key_values: Cache | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPast:
        cache = cache if cache is not None else past_key_values
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if pixel_values is not None and input_ids is not None:
            mask = input_ids == self.config.image_token_id
            if bool(mask.any()):
                images = self.image_embeddings(pixel_values, pixel_values_crops, images_spatial_crop)
                if images.shape[0] != int(mask.sum()):
                    raise ValueError(
                        f"the prompt holds {int(mask.sum())} image tokens but its images make {images.shape[0]} embeddings"
                    )
                inputs_embeds = inputs_embeds.masked_scatter(mask.unsqueeze(-1), images.to(inputs_embeds.dtype))
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        past = cache.get_seq_length() if cache is not None else 0
        length = inputs_embeds.shape[1]
        if position_ids is None:
            if attention_mask is not None and attention_mask.ndim == 2:
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -length:]
            else:
                position_ids = (torch.arange(length, device=inputs_embeds.device) + past).unsqueeze(0)
        causal_mask = create_causal_mask(
            config=self.config,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            cache=cache,
            position_ids=position_ids,
        )
        hidden = inputs_embeds
        position_embeddings = self.rotary_emb(hidden, position_ids)
        for layer in self.layers:
            hidden = layer(
                hidden,
                attention_mask=causal_mask,
                position_embeddings=position_embeddings,
                position_ids=position_ids,
                cache=cache,
                use_cache=use_cache,
                **kwargs,
            )
        return BaseModelOutputWithPast(last_hidden_state=self.norm(hidden), cache=cache)


class DeepseekOcrForCausalLM(DeepseekOcrPreTrainedModel, GenerationMixin):
    """DeepSeek-OCR with its LM head: what the official ``model.safetensors`` holds."""

    _tied_weights_keys: dict[str, str] = {}

    def __init__(self, config: DeepseekOcrConfig) -> None:
        super().__init__(config)
        self.model = DeepseekOcrModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.lm_head = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        pixel_values_crops: torch.Tensor | None = None,
        images_spatial_crop: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        past_key_values: Cache | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        outputs = self.model(
            input_ids=input_ids,
            pixel_values=pixel_values,
            pixel_values_crops=pixel_values_crops,
            images_spatial_crop=images_spatial_crop,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache if cache is not None else past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        hidden = outputs.last_hidden_state
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden[:, keep, :]).float()
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=outputs.cache)
