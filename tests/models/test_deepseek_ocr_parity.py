"""rrg's native DeepSeek-OCR equals the model's own published code, on the reference that
``shared/tools/deepseek_ocr_reference`` built with that code (see deepseek_ocr_reference/).

The reference folder (official layout, 748M parameters: full-size SAM-B and CLIP-L, a 2-layer
4-expert decoder) is rebuilt once per session from the tool's seeded procedure; its weights file
must be byte-identical to the one the tool wrote. Then: it loads with no missing or unexpected
weight, the inputs rrg builds for the reference image and prompt are the model's own (ids, image
mask, pixels), the logits match within 1e-4, and ``rrg run`` of the study's zero-shot recipe
pointed at the folder writes the reference's greedy tokens.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from deepseek_ocr_reference import REFERENCE, build_reference_folder, expected, sha256

REPO = Path(__file__).resolve().parents[2]
LOGIT_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def reference_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_reference_folder(tmp_path_factory.mktemp("deepseek-ocr-reference") / "tiny_model")


@pytest.fixture(scope="module")
def loaded(reference_folder: Path):
    from rrg.models import get_family

    family = get_family("deepseek_ocr")
    torch.manual_seed(0)
    model, processor = family.load(str(reference_folder))
    return family, model.eval(), processor


@pytest.fixture(scope="module")
def reference_inputs(loaded, reference_folder: Path):
    from PIL import Image

    family, _, processor = loaded
    prompt = family.prompt_text(processor, REFERENCE["question"], 1)
    with Image.open(reference_folder / "image.png") as image:
        return family.processor_inputs(processor, [prompt], [[image.convert("RGB")]])


def test_weights_are_rebuilt_byte_identical(reference_folder: Path) -> None:
    assert sha256(reference_folder / "model.safetensors") == REFERENCE["weights_sha256"]
    assert sha256(reference_folder / "image.png") == REFERENCE["image_png_sha256"]


def test_official_layout_loads_without_missing_or_unexpected_weights(reference_folder: Path) -> None:
    from rrg.models.deepseek_ocr_native.modeling import DeepseekOcrForCausalLM

    model, info = DeepseekOcrForCausalLM.from_pretrained(str(reference_folder), output_loading_info=True)
    assert {key: list(value) for key, value in info.items() if value} == {}
    assert sum(p.numel() for p in model.parameters()) == REFERENCE["n_params"]


def test_inputs_are_the_models_own(reference_inputs) -> None:
    wanted = expected()
    ids = reference_inputs["input_ids"][0]
    assert ids.tolist() == wanted["input_ids"].tolist()
    assert (ids == 128815).tolist() == wanted["image_mask"].tolist()
    assert int((ids == 128815).sum()) == REFERENCE["n_image_tokens"] == 16 * (16 + 1) + 1
    pixels = reference_inputs["pixel_values"]
    assert tuple(pixels.shape) == (1, 3, 1024, 1024)
    as_bf16 = pixels.to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()
    assert torch.equal(pixels, pixels.to(torch.bfloat16).float())  # rounded to bf16 as the model's code does
    assert hashlib.sha256(as_bf16).hexdigest() == REFERENCE["pixel_values_bf16_sha256"]
    assert reference_inputs["images_spatial_crop"].tolist() == [[1, 1]]


def test_logits_match_the_published_code(loaded, reference_inputs) -> None:
    _, model, _ = loaded
    wanted = expected()
    with torch.no_grad():
        logits = model(**reference_inputs).logits[0].float()
    subset = torch.from_numpy(wanted["vocab_subset"])
    diff = (logits[:, subset] - torch.from_numpy(wanted["logits_subset"])).abs().max().item()
    assert diff <= LOGIT_TOLERANCE, diff
    lse = (torch.logsumexp(logits, -1) - torch.from_numpy(wanted["logsumexp"])).abs().max().item()
    assert lse <= LOGIT_TOLERANCE, lse
    assert logits.argmax(-1).tolist() == wanted["argmax"].tolist()


def test_rrg_run_zero_shot_writes_the_reference_greedy_tokens(
    reference_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rrg.cli import cli
    from rrg_registry import Registry
    from transformers import PreTrainedTokenizerFast

    root = tmp_path / "organized_dataset"
    dataset = root / "validation-public" / "Xray" / "IU_XRay"
    (dataset / "imagesVal").mkdir(parents=True)
    (dataset / "imagesVal" / "page.png").write_bytes((reference_folder / "image.png").read_bytes())
    item = {
        "TaskType": "Report_Generation",
        "Modality": "Xray",
        "ImageName": ["imagesVal/page.png"],
        "Question": REFERENCE["question"],
        "Answer": "The heart is normal in size. The lungs are clear.",
        "Split": "val",
    }
    (dataset / "IU_XRay_questions_val.json").write_text(json.dumps([item]), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    registry = f"sqlite:///{tmp_path / 'rrg.db'}"
    recipe = str(REPO / "recipes/paper/deepseek-ocr/zero-shot.yaml")
    overrides = [
        f"model.id={reference_folder}",
        f"data.root={root}",
        "data.expect=null",  # the reference folder holds one sample, not the study's 1,945
        f"evaluation.max_new_tokens={len(REFERENCE['greedy_ids'])}",
        "evaluation.batch_size=1",
    ]
    sets = [part for override in overrides for part in ("--set", override)]

    planned = CliRunner().invoke(cli, ["plan", recipe, "--device", "cpu", "--json", *sets])
    assert planned.exit_code == 0, planned.output
    assert json.loads(planned.stdout)["model"]["implementation"].startswith("rrg native DeepSeek-OCR")

    args = ["run", recipe, "--device", "cpu", "--registry", registry, "--output-dir", str(tmp_path / "runs"), "--json"]
    result = CliRunner().invoke(cli, [*args, *sets])
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(reference_folder))
    wanted = tokenizer.decode(REFERENCE["greedy_ids"], skip_special_tokens=True).strip()
    with Registry.from_url(registry) as opened:
        (prediction,) = opened.predictions(run["id"], "validation-public")
    assert REFERENCE["generate_via_infer_ids"] == REFERENCE["greedy_ids"]
    assert prediction.prediction == wanted
