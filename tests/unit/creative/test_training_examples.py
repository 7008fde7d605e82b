"""Training examples match serving prompts; the shared-prefix loss equals the plain padded loss."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from core.placements import get_placement
from creative.chat import chat_prompt_ids
from creative.context import template_variables
from creative.settings import Settings
from creative.training.train import (
    IGNORE,
    batch_loss,
    build_examples,
    collate,
    epoch_batches,
    train,
)
from prompts.store import TemplateStore
from tests.unit.creative.training_support import rows, tiny_config


@pytest.fixture(scope="module")
def tokenizer() -> object:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(Settings().resolved_model_path))


def test_prompt_is_what_the_server_sends_and_only_the_copy_is_learned(tokenizer: object) -> None:
    templates = TemplateStore.from_directory()
    first = rows()[0]
    example = build_examples([first], tokenizer, templates, None, 1024)[0]
    placement = get_placement("push")
    served = chat_prompt_ids(
        tokenizer,
        templates.for_placement("push").render(template_variables(first.profile, first.product, placement)),
    )
    assert example.input_ids[: len(served)] == served
    assert all(label == IGNORE for label in example.labels[: len(served)])
    learned = [t for t in example.labels if t != IGNORE]
    decoded = tokenizer.decode(learned)  # type: ignore[attr-defined]
    assert json.loads(decoded.removesuffix(tokenizer.eos_token)) == first.target  # type: ignore[attr-defined]


def test_rows_without_the_voice_are_left_out(tokenizer: object) -> None:
    assert build_examples(rows(), tokenizer, TemplateStore.from_directory(), "playful", 1024) == []


def test_shared_prefix_loss_equals_the_plain_loss(tokenizer: object) -> None:
    from transformers import AutoModelForCausalLM

    examples = build_examples(rows(), tokenizer, TemplateStore.from_directory(), None, 1024)
    model = AutoModelForCausalLM.from_pretrained(str(Settings().resolved_model_path), dtype=torch.float32)
    pad = tokenizer.eos_token_id  # type: ignore[attr-defined]
    with torch.no_grad():
        for batch in (examples, examples[:1]):  # a batch of one shares its whole prompt
            plain = model(**collate(batch, pad)).loss
            shared = batch_loss(model, batch, pad, bf16=False)
            assert float(shared) == pytest.approx(float(plain), rel=1e-4)


def test_batches_keep_one_template_and_are_reproducible() -> None:
    from creative.training.train import Example

    examples = [Example([1], [1], group) for group in ["push", "email"] * 10]
    batches = epoch_batches(examples, 4, seed=3, epoch=1)
    assert all(len({examples[i].group for i in batch}) == 1 for batch in batches)
    assert sorted(i for batch in batches for i in batch) == list(range(20))
    assert (
        batches == epoch_batches(examples, 4, seed=3, epoch=1) != epoch_batches(examples, 4, seed=3, epoch=2)
    )


def test_training_resumes_from_its_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import creative.training.train as training

    config = tiny_config(tmp_path, epochs=2, save_steps=1)
    real_loss = training.batch_loss
    calls: list[int] = []

    def interrupted(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 2:  # the second step: as if the machine went down
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(training, "batch_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(config, progress=False)
    state = torch.load(config.out / "checkpoint" / "trainer_state.pt", weights_only=True)["state"]
    assert state["global_step"] == 1 and state["epoch"] == 1  # epoch 1 done, checkpointed

    monkeypatch.setattr(training, "batch_loss", real_loss)
    card = train(config, resume=True, progress=False)
    assert [m["epoch"] for m in card["metrics"]] == [1, 2]
    assert (config.out / "adapter_model.safetensors").is_file() and not (config.out / "checkpoint").exists()
    assert card["base_model_sha256"] and card["data"]["train_sha256"]


def test_extra_data_is_trained_on_and_recorded_with_its_recipe(tmp_path: Path) -> None:
    extra = tmp_path / "best.jsonl"
    other = rows()[1].model_copy(
        update={"target": {"title": "Baking, then trails", "body": "TrailRunner X: 380 g."}}
    )
    extra.write_text(other.model_dump_json() + "\n")
    extra.with_suffix(".summary.json").write_text('{"n": 8, "adapter": "house"}')
    card = train(tiny_config(tmp_path, epochs=1, extra_data=(extra,)), progress=False)
    assert card["data"]["examples"] == 3  # two rows of train.jsonl + one extra
    (record,) = card["data"]["extra"]
    assert record["file"] == str(extra) and record["recipe"] == {"n": 8, "adapter": "house"}
    assert len(record["sha256"]) == 64


def test_a_run_can_start_from_another_adapter(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from creative.training.train import TrainingConfigError

    first = tiny_config(tmp_path, epochs=3, lr=1e-2)  # the first step's learning rate is 0 (warm-up)
    train(first, progress=False)
    started = load_file(first.out / "adapter_model.safetensors")
    assert any(k.endswith("lora_B.weight") and bool(v.any()) for k, v in started.items())  # fresh B is 0
    # with a learning rate of 0 the second run keeps exactly the weights it started from
    warm = tiny_config(tmp_path, epochs=1, lr=0.0, out=tmp_path / "voice", init_adapter=first.out)
    card = train(warm, progress=False)
    kept = load_file(warm.out / "adapter_model.safetensors")
    assert started.keys() == kept.keys() and all(torch.equal(started[k], kept[k]) for k in started)
    assert card["init_adapter"]["path"] == str(first.out) and len(card["init_adapter"]["sha256"]) == 64

    with pytest.raises(TrainingConfigError, match="rank 4, alpha 8"):
        train(tiny_config(tmp_path, rank=8, out=tmp_path / "wrong", init_adapter=first.out), progress=False)
    with pytest.raises(TrainingConfigError, match="dropout"):
        train(
            tiny_config(tmp_path, dropout=0.2, out=tmp_path / "wrong", init_adapter=first.out), progress=False
        )
    with pytest.raises(TrainingConfigError, match="is the --out folder"):
        train(tiny_config(tmp_path, out=first.out, init_adapter=first.out), progress=False)
