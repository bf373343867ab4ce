"""The configuration of DeepSeek-OCR (v1), read from the official ``config.json`` as published.

The official file (``model_type: deepseek_vl_v2``) holds the language model's settings twice, at
the top level and under ``language_config``, a ``vision_config`` whose ``width`` table sizes the two
encoders (``sam_vit_b`` and ``clip-l-14-224``), and a ``projector_config``. The published code
hard-codes the vision sizes; here every size is read from the file (with the published values as
defaults), so the tiny twin is the same code with small numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transformers import PretrainedConfig

MODEL_TYPE = "deepseek_vl_v2"
"""``model_type`` of the official checkpoint (shared with DeepSeek-VL2, told apart by architectures)."""

ARCHITECTURES = ("DeepseekOCRForCausalLM", "DeepseekOcrForCausalLM")
"""Architecture names of a DeepSeek-OCR folder: the published remote code's and rrg's native class."""

IMAGE_TOKEN_ID = 128815
"""``<image>`` in the DeepSeek-OCR tokenizer (hard-coded in the published ``infer()``)."""

SAM_DEFAULTS: dict[str, Any] = {
    "width": 768,
    "layers": 12,
    "heads": 12,
    "global_attn_indexes": [2, 5, 8, 11],
    "downsample_channels": [512, 1024],
    # not in the published config.json (fixed in the published code); settable for the tiny twin
    "image_size": 1024,
    "patch_size": 16,
    "window_size": 14,
    "mlp_ratio": 4.0,
    "out_channels": 256,
}
CLIP_DEFAULTS: dict[str, Any] = {
    "width": 1024,
    "layers": 24,
    "heads": 16,
    "image_size": 224,
    "patch_size": 14,
    # not in the published config.json (fixed in the published code)
    "ffn_size": 4096,
}
SAM_KEY, CLIP_KEY = "sam_vit_b", "clip-l-14-224"


@dataclass(frozen=True)
class SamSettings:
    width: int
    layers: int
    heads: int
    global_attn_indexes: tuple[int, ...]
    downsample_channels: tuple[int, int]
    image_size: int
    patch_size: int
    window_size: int
    mlp_ratio: float
    out_channels: int


@dataclass(frozen=True)
class ClipSettings:
    width: int
    layers: int
    heads: int
    image_size: int
    patch_size: int
    ffn_size: int


class DeepseekOcrConfig(PretrainedConfig):
    """DeepSeek-OCR: SAM-B + CLIP-L vision encoders, a linear projector, a DeepSeek-V2 MoE decoder.

    Language-model fields follow the published ``DeepseekV2Config`` names and defaults (the ones the
    official file leaves out, such as ``norm_topk_prob`` and ``aux_loss_alpha``, take the defaults of
    the published configuration class).
    """

    model_type = MODEL_TYPE
    keys_to_ignore_at_inference = ["past_key_values", "cache"]
    attribute_map = {"num_experts": "n_routed_experts"}

    def __init__(
        self,
        vocab_size: int = 129280,
        hidden_size: int = 1280,
        intermediate_size: int = 6848,
        moe_intermediate_size: int = 896,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 10,
        num_key_value_heads: int | None = 10,
        n_shared_experts: int | None = 2,
        n_routed_experts: int | None = 64,
        num_experts_per_tok: int | None = 6,
        first_k_dense_replace: int = 1,
        moe_layer_freq: int = 1,
        routed_scaling_factor: float = 1.0,
        topk_method: str = "greedy",
        n_group: int | None = 1,
        topk_group: int | None = 1,
        norm_topk_prob: bool = False,
        scoring_func: str = "softmax",
        aux_loss_alpha: float = 0.001,
        seq_aux: bool = True,
        use_mla: bool = False,
        kv_lora_rank: int | None = None,
        q_lora_rank: int | None = None,
        qk_rope_head_dim: int = 0,
        qk_nope_head_dim: int = 0,
        v_head_dim: int = 0,
        hidden_act: str = "silu",
        max_position_embeddings: int = 8192,
        rms_norm_eps: float = 1e-6,
        rope_theta: float = 10000.0,
        rope_scaling: dict[str, Any] | None = None,
        attention_bias: bool = False,
        attention_dropout: float = 0.0,
        initializer_range: float = 0.02,
        vision_config: dict[str, Any] | None = None,
        projector_config: dict[str, Any] | None = None,
        image_token_id: int = IMAGE_TOKEN_ID,
        bos_token_id: int | None = 0,
        eos_token_id: int | list[int] | None = 1,
        pad_token_id: int | None = None,
        tie_word_embeddings: bool = False,
        use_cache: bool = True,
        **kwargs: Any,
    ) -> None:
        self.use_cache = use_cache
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.moe_intermediate_size = moe_intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads or num_attention_heads
        self.n_shared_experts = n_shared_experts
        self.n_routed_experts = n_routed_experts
        self.num_experts_per_tok = num_experts_per_tok
        self.first_k_dense_replace = first_k_dense_replace
        self.moe_layer_freq = moe_layer_freq
        self.routed_scaling_factor = routed_scaling_factor
        self.topk_method = topk_method
        self.n_group = n_group
        self.topk_group = topk_group
        self.norm_topk_prob = norm_topk_prob
        self.scoring_func = scoring_func
        self.aux_loss_alpha = aux_loss_alpha
        self.seq_aux = seq_aux
        self.use_mla = use_mla
        self.kv_lora_rank = kv_lora_rank
        self.q_lora_rank = q_lora_rank
        self.qk_rope_head_dim = qk_rope_head_dim
        self.qk_nope_head_dim = qk_nope_head_dim
        self.v_head_dim = v_head_dim
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.rms_norm_eps = rms_norm_eps
        self.rope_theta = rope_theta
        self.unsupported_rope_scaling = rope_scaling
        self.attention_bias = attention_bias
        self.attention_dropout = attention_dropout
        self.mlp_bias = False
        self.initializer_range = initializer_range
        self.head_dim = hidden_size // num_attention_heads
        self.rope_parameters = {"rope_type": "default", "rope_theta": rope_theta}
        self.vision_config = vision_config or {}
        self.projector_config = projector_config or {
            "projector_type": "linear",
            "input_dim": 2048,
            "n_embed": hidden_size,
        }
        self.image_token_id = image_token_id
        super().__init__(
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            tie_word_embeddings=tie_word_embeddings,
            **kwargs,
        )

    # ------------------------------------------------------------ derived settings

    @property
    def sam(self) -> SamSettings:
        values = {**SAM_DEFAULTS, **self._width().get(SAM_KEY, {})}
        values["image_size"] = self.vision_config.get("image_size", values["image_size"])
        return SamSettings(
            width=int(values["width"]),
            layers=int(values["layers"]),
            heads=int(values["heads"]),
            global_attn_indexes=tuple(int(i) for i in values["global_attn_indexes"]),
            downsample_channels=(int(values["downsample_channels"][0]), int(values["downsample_channels"][1])),
            image_size=int(values["image_size"]),
            patch_size=int(values["patch_size"]),
            window_size=int(values["window_size"]),
            mlp_ratio=float(values["mlp_ratio"]),
            out_channels=int(values["out_channels"]),
        )

    @property
    def clip(self) -> ClipSettings:
        values = {**CLIP_DEFAULTS, **self._width().get(CLIP_KEY, {})}
        return ClipSettings(**{k: int(values[k]) for k in CLIP_DEFAULTS})

    @property
    def downsample_ratio(self) -> int:
        """Side ratio between SAM's patch grid and the tokens it hands on (two stride-2 convs: 4)."""
        return 4

    def tokens_per_side(self, image_size: int) -> int:
        """Image tokens per row (and rows) for a square view of ``image_size`` pixels."""
        return -(-(image_size // self.sam.patch_size) // self.downsample_ratio)

    def _width(self) -> dict[str, Any]:
        width = self.vision_config.get("width", {})
        return width if isinstance(width, dict) else {}

    def problems(self) -> list[str]:
        """What in this config the native implementation cannot build, as ``key: reason`` lines."""
        found: list[str] = []
        projector = self.projector_config or {}
        if projector.get("projector_type", "linear") != "linear":
            found.append(
                f"projector_config.projector_type: {projector.get('projector_type')!r} (DeepSeek-OCR uses 'linear')"
            )
        if int(projector.get("n_embed", self.hidden_size)) != self.hidden_size:
            found.append(f"projector_config.n_embed: {projector.get('n_embed')} differs from hidden_size {self.hidden_size}")
        sam, clip = self.sam, self.clip
        if sam.downsample_channels[1] != clip.width:
            found.append(
                f"vision_config.width.{SAM_KEY}.downsample_channels: SAM's last channels "
                f"({sam.downsample_channels[1]}) must equal the CLIP width ({clip.width})"
            )
        if int(projector.get("input_dim", clip.width * 2)) != clip.width + sam.downsample_channels[1]:
            found.append(
                f"projector_config.input_dim: {projector.get('input_dim')} is not CLIP width + SAM channels "
                f"({clip.width + sam.downsample_channels[1]})"
            )
        if not isinstance(self.use_mla, bool):
            found.append(f"use_mla: {self.use_mla!r} is not an attention variant (true selects MLA, false MHA)")
        elif self.use_mla and not (self.kv_lora_rank and self.qk_rope_head_dim and self.v_head_dim):
            found.append("use_mla: true needs kv_lora_rank, qk_rope_head_dim and v_head_dim")
        if self.scoring_func != "softmax":
            found.append(f"scoring_func: {self.scoring_func!r} (DeepSeek-OCR routes with 'softmax')")
        if self.topk_method not in ("greedy", "group_limited_greedy"):
            found.append(f"topk_method: {self.topk_method!r} (supported: greedy, group_limited_greedy)")
        if self.unsupported_rope_scaling:
            found.append(f"rope_scaling: {self.unsupported_rope_scaling!r} (DeepSeek-OCR uses plain RoPE)")
        if self.hidden_size % self.num_attention_heads:
            found.append(f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads {self.num_attention_heads}")
        return found
