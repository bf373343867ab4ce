"""The GRPO reward terms and composite (rrg.rewards) on strings and conversational completions."""

from __future__ import annotations

import pytest
from rrg import rewards
from rrg.metrics import green_flare, rouge_l_pairs

REF = "No pneumothorax. Small left pleural effusion."


def test_completion_text_handles_strings_and_messages():
    assert rewards.completion_text("plain") == "plain"
    assert rewards.completion_text([{"role": "assistant", "content": "msg"}]) == "msg"
    parts = [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "image"},
                {"type": "text", "text": "b"},
            ],
        }
    ]
    assert rewards.completion_text(parts) == "ab"
    with pytest.raises(TypeError):
        rewards.completion_text(3)


def test_format_violations_each_check():
    assert rewards.format_violations("Fine.") == []
    assert rewards.format_violations("<think>x</think>y") == ["think_tags"]
    assert rewards.format_violations("<THINK >y") == ["think_tags"]
    assert rewards.format_violations("```json\n{}\n```") == ["code_fences"]
    checks = rewards.FormatChecks(max_chars=5)
    assert rewards.format_violations("123456", checks) == ["too_long"]
    assert rewards.format_violations("<think>```" + "x" * 10, checks) == [
        "think_tags",
        "code_fences",
        "too_long",
    ]
    assert rewards.format_violations("```", rewards.FormatChecks(code_fences=False)) == []


def test_format_reward_is_one_minus_violations():
    completions = ["Fine.", "<think>a</think>", "<think>```", "<think>```" + "x" * 2000]
    assert rewards.format_reward(completions=completions) == [1.0, 0.0, -1.0, -2.0]
    assert rewards.format_reward(completions=["x" * 2000], max_chars=None) == [1.0]


def test_clinical_reward_green_flare_entity_and_columns():
    completions = [[{"role": "assistant", "content": "No pneumothorax."}], "Pneumothorax."]
    refs = ["No pneumothorax.", "No pneumothorax."]
    expected = [
        green_flare.score_pair(c, r).entity_matching
        for c, r in zip(["No pneumothorax.", "Pneumothorax."], refs)
    ]
    assert (
        rewards.clinical_reward(completions=completions, reference=refs, prompts=["p", "p"])
        == expected
    )
    assert rewards.clinical_reward(completions=completions, answer=refs) == expected
    with pytest.raises(ValueError, match="'reference'"):
        rewards.clinical_reward(completions=completions)


def test_clinical_reward_takes_a_custom_scorer():
    def length_ratio(preds, refs):
        return [len(p) / len(r) for p, r in zip(preds, refs)]

    assert rewards.clinical_reward(completions=["ab"], reference=["abcd"], scorer=length_ratio) == [
        0.5
    ]
    with pytest.raises(ValueError, match="unknown clinical scorer"):
        rewards.clinical_reward(completions=["a"], reference=["b"], scorer="green")


def test_rouge_reward_matches_rouge_l():
    completions = ["Small left effusion.", "Normal chest."]
    refs = [REF, REF]
    assert rewards.rouge_reward(completions=completions, reference=refs) == rouge_l_pairs(
        completions, refs
    )


def test_composite_is_the_weighted_sum_of_the_terms():
    completions = [
        "Small left pleural effusion.",
        "<think>hm</think> No pneumothorax.",
        "```Normal.```",
    ]
    refs = [REF] * 3
    result = rewards.composite_reward(completions, refs)
    for i in range(3):
        expected = (
            0.7 * result.terms["clinical"][i]
            + 0.2 * result.terms["format"][i]
            + 0.1 * result.terms["rouge"][i]
        )
        assert result.rewards[i] == pytest.approx(expected)
    assert result.terms["format"] == [1.0, 0.0, 0.0]


def test_composite_clips():
    weights = rewards.RewardWeights(clinical=0.0, format=5.0, rouge=0.0)
    result = rewards.composite_reward(["<think>```" + "x" * 2000], [REF], weights=weights)
    assert result.terms["format"] == [-2.0]
    assert result.rewards == [-2.0]
    assert rewards.composite_reward(["<think>"], [REF], weights=weights, clip=None).rewards == [0.0]
    assert rewards.composite_reward(["ok"], [REF], weights=weights).rewards == [2.0]


def test_build_reward_functions_composite_logs_terms():
    rf = rewards.build_reward_functions(max_chars=50)
    assert rf.weights == [1.0]
    (function,) = rf.functions
    logged = {}
    values = function(
        completions=["No pneumothorax.", "x" * 60], reference=[REF, REF], prompts=["p", "p"],
        log_metric=lambda name, value: logged.__setitem__(name, value), trainer_state=None,
    )  # fmt: skip
    expected = rewards.composite_reward(
        ["No pneumothorax.", "x" * 60], [REF, REF], checks=rewards.FormatChecks(max_chars=50)
    )
    assert values == expected.rewards
    assert set(logged) == {"reward_terms/clinical", "reward_terms/format", "reward_terms/rouge"}
    assert logged["reward_terms/format"] == 0.5


def test_build_reward_functions_separate_terms_for_trl_weights():
    rf = rewards.build_reward_functions(separate_terms=True)
    assert rf.weights == [0.7, 0.2, 0.1]
    names = [f.__name__ for f in rf.functions]
    assert names == ["clinical_reward_green_flare_entity", "format_reward", "rouge_reward"]
    completions = ["No pneumothorax.", "<think>x</think>"]
    per_term = [f(completions=completions, answer=[REF, REF]) for f in rf.functions]
    summed = [sum(w * t[i] for w, t in zip(rf.weights, per_term)) for i in range(2)]
    assert summed == pytest.approx(rewards.composite_reward(completions, answer=[REF, REF]).rewards)


def test_separate_terms_refused_when_clip_could_bind():
    with pytest.raises(ValueError, match="cannot clip"):
        rewards.build_reward_functions(rewards.RewardWeights(1.0, 1.0, 1.0), separate_terms=True)
