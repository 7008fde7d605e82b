"""LoRA fine-tuning with peft: the prompt the server sends, the JSON copy as the completion, loss on it only.

Each example is the placement's template rendered for the row (exactly what the writer sends, through the
base model's chat template) followed by the target copy as compact JSON and the end-of-turn token; labels
mask the prompt, so only the completion is learned. Training is seeded, shows a progress bar, computes the
validation loss after every epoch, checkpoints every ``save_steps`` steps and at each epoch end (adapter,
optimizer, scheduler, position), resumes from that checkpoint (loaded as data only: tensors and plain
containers, never arbitrary pickled objects), and writes the adapter with an adapter card (base-model hash,
data hash, hyperparameters, metrics).
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from core.placements import get_placement
from creative.chat import chat_prompt_ids
from creative.context import template_variables
from creative.training.card import CARD, TrainConfig, adapter_card
from creative.training.checkpoint import (
    CHECKPOINT,
    TRAINER_STATE,
    TrainState,
    load_trainer_state,
    save_trainer_checkpoint,
)
from creative.training.data import TrainingRow, validate_files
from prompts.store import TemplateStore

logger = logging.getLogger(__name__)

IGNORE = -100


class TrainingDataError(ValueError):
    """The training or validation data failed validation; the message is the report."""


class TrainingConfigError(ValueError):
    """The run's settings cannot work (e.g. an adapter to start from of another shape)."""


@dataclass
class Example:
    """Token ids of one prompt + completion and the labels (prompt masked); ``group``: its template."""

    input_ids: list[int]
    labels: list[int]
    group: str = ""


def completion_text(copy: dict[str, str]) -> str:
    """The completion as the structured-output grammar lets the model write it: compact JSON."""
    return json.dumps(copy, ensure_ascii=False)


def build_examples(
    rows: list[TrainingRow], tokenizer: Any, templates: TemplateStore, voice: str | None, max_length: int
) -> list[Example]:
    """Tokenized examples for the rows that have copy in ``voice`` (prompts longer than allowed are cut)."""
    examples = []
    end = tokenizer.eos_token
    for row in rows:
        copy = row.copy_for(voice)
        if copy is None:
            continue
        placement = get_placement(row.placement)
        messages = templates.for_placement(placement.name).render(
            template_variables(row.profile, row.product, placement)
        )
        prompt = chat_prompt_ids(tokenizer, messages)
        completion = tokenizer(completion_text(copy) + end, add_special_tokens=False).input_ids
        ids = (prompt + completion)[:max_length]
        labels = ([IGNORE] * len(prompt) + completion)[:max_length]
        examples.append(Example(ids, labels, placement.name))
    return examples


def collate(batch: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors; padding is masked out of attention and loss."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, example in enumerate(batch):
        n = len(example.input_ids)
        ids[i, :n] = torch.tensor(example.input_ids)
        labels[i, :n] = torch.tensor(example.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def epoch_batches(examples: list[Example], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The batches of one epoch: examples of one template together (they share a long prompt prefix),
    shuffled within and across batches, identically on a resumed run."""
    rng = random.Random(seed * 1_000_003 + epoch)
    groups: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        groups.setdefault(example.group, []).append(i)
    batches = []
    for name in sorted(groups):
        members = groups[name]
        rng.shuffle(members)
        batches += [members[i : i + batch_size] for i in range(0, len(members), batch_size)]
    rng.shuffle(batches)
    return batches


def shared_prefix_length(batch: list[Example]) -> int:
    """Prompt tokens all examples start with, stopping one token before the first learned token of any
    example (the logits that predict it must come from the part computed per example)."""
    limit = min(next(i for i, label in enumerate(e.labels) if label != IGNORE) for e in batch) - 1
    length = 0
    while length < limit and len({e.input_ids[length] for e in batch}) == 1:
        length += 1
    return length


def batch_loss(model: Any, batch: list[Example], pad_id: int, bf16: bool) -> torch.Tensor:
    """Completion loss of a batch, computing the prompt prefix the batch shares only once.

    The shared prefix (the template's long instruction) runs as a single sequence with a KV cache that is
    then repeated for every example; gradients flow through the cache, so this is the same loss and
    gradient as a plain padded forward, at a fraction of the cost (2.7x on 2 CPU cores).
    """
    device = next(model.parameters()).device
    shared = shared_prefix_length(batch)
    rest = collate([Example(e.input_ids[shared:], e.labels[shared:]) for e in batch], pad_id)
    rest = {k: v.to(device) for k, v in rest.items()}
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        if shared == 0:
            return model(**rest).loss
        prefix = torch.tensor([batch[0].input_ids[:shared]], device=device)
        cache = model(input_ids=prefix, use_cache=True).past_key_values
        cache.batch_repeat_interleave(len(batch))
        mask = torch.cat(
            [torch.ones(len(batch), shared, dtype=torch.long, device=device), rest["attention_mask"]], 1
        )
        return model(
            input_ids=rest["input_ids"], attention_mask=mask, past_key_values=cache, labels=rest["labels"]
        ).loss


def _device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


def _use_bf16(config: TrainConfig, device: str) -> bool:
    if config.bf16 is not None:
        return config.bf16
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def _load_rows(path: Path, what: str) -> list[TrainingRow]:
    report = validate_files([path])
    if not report.ok:
        raise TrainingDataError(f"{what} data {path} is invalid; fix it and run again:\n{report.render()}")
    return report.rows


@torch.no_grad()
def evaluate_loss(model: Any, examples: list[Example], pad_id: int, batch_size: int, bf16: bool) -> float:
    """Mean completion-token loss over ``examples``."""
    model.eval()
    total, tokens = 0.0, 0
    for batch in epoch_batches(examples, batch_size, seed=0, epoch=0):
        picked = [examples[i] for i in batch]
        count = sum(sum(label != IGNORE for label in e.labels[1:]) for e in picked)
        total += float(batch_loss(model, picked, pad_id, bf16)) * count
        tokens += count
    model.train()
    return total / max(tokens, 1)


def halve_adapter_weights(folder: Path) -> None:
    """Store the finished adapter in bfloat16 (half the size; vLLM computes LoRA in the model's dtype)."""
    from safetensors.torch import load_file, save_file

    path = folder / "adapter_model.safetensors"
    tensors = load_file(str(path))
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in tensors.items()}, str(path), {"format": "pt"})


def train(config: TrainConfig, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train a LoRA adapter into ``config.out``; return its card."""
    from transformers import AutoTokenizer

    rows = _load_rows(config.data, "training")
    for extra in config.extra_data:
        rows += _load_rows(extra, "extra training")
    validation_rows = _load_rows(config.validation, "validation") if config.validation else []
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    device = _device(config.device)
    bf16 = _use_bf16(config, device)

    tokenizer = AutoTokenizer.from_pretrained(str(config.model_path))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    templates = TemplateStore.from_directory()
    examples = build_examples(rows, tokenizer, templates, config.voice, config.max_length)
    held_out = build_examples(validation_rows, tokenizer, templates, config.voice, config.max_length)
    if not examples:
        raise TrainingDataError(f"no training rows have copy in voice {config.voice!r}")

    model, state, saved = _load_model(config, device, resume)
    steps_per_epoch = len(epoch_batches(examples, config.batch_size, config.seed, 0))
    optimizer, scheduler = _optimizer(model, config, steps_per_epoch * config.epochs, saved)
    config.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    bar = tqdm(
        total=steps_per_epoch * config.epochs,
        initial=state.global_step,
        unit="step",
        disable=not progress,
        dynamic_ncols=True,
    )
    while state.epoch < config.epochs:
        batches = epoch_batches(examples, config.batch_size, config.seed, state.epoch)
        running, done = 0.0, 0
        for step in range(state.step_in_epoch, steps_per_epoch):
            loss = batch_loss(model, [examples[i] for i in batches[step]], pad_id, bf16)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running, done = running + loss.item(), done + 1
            state.step_in_epoch, state.global_step = step + 1, state.global_step + 1
            bar.update(1)
            bar.set_postfix(epoch=state.epoch + 1, loss=f"{loss.item():.3f}", refresh=False)
            if config.save_steps and state.global_step % config.save_steps == 0:
                save_trainer_checkpoint(config.out / CHECKPOINT, model, state, optimizer, scheduler)
        metrics = {"epoch": state.epoch + 1, "train_loss": round(running / max(done, 1), 4)}
        if held_out:
            metrics["validation_loss"] = round(
                evaluate_loss(model, held_out, pad_id, config.batch_size, bf16), 4
            )
        state.history.append(metrics)
        bar.write(json.dumps(metrics))
        state.epoch, state.step_in_epoch = state.epoch + 1, 0
        save_trainer_checkpoint(config.out / CHECKPOINT, model, state, optimizer, scheduler)
    bar.close()

    model.save_pretrained(str(config.out))
    (config.out / "README.md").unlink(missing_ok=True)  # peft's empty model-card template; ours is the card
    halve_adapter_weights(config.out)
    card = adapter_card(
        config, len(examples), len(held_out), {"bf16_autocast": bf16, "device": device}, state
    )
    card["train_seconds_this_run"] = round(time.perf_counter() - started, 1)
    (config.out / CARD).write_text(json.dumps(card, indent=2, default=str) + "\n")
    shutil.rmtree(config.out / CHECKPOINT, ignore_errors=True)
    return card


def _load_model(
    config: TrainConfig, device: str, resume: bool
) -> tuple[Any, TrainState, dict[str, Any] | None]:
    """The PEFT model (fresh, or from the checkpoint when resuming), its train state and the saved
    trainer state (None for a fresh run)."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(config.model_path), dtype=torch.float32)
    base.to(device)  # type: ignore[arg-type]
    checkpoint = config.out / CHECKPOINT
    if resume and (checkpoint / TRAINER_STATE).is_file():
        saved = load_trainer_state(checkpoint)  # before anything else is read from the folder
        model = PeftModel.from_pretrained(base, str(checkpoint), is_trainable=True)
        state = TrainState(**saved["state"])
        logger.info("resuming", extra={"epoch": state.epoch, "step": state.global_step})
    elif config.init_adapter is not None:
        _check_init_adapter(config)
        try:
            model = PeftModel.from_pretrained(base, str(config.init_adapter), is_trainable=True)
        except RuntimeError as exc:  # weights of another base model: their shapes differ
            raise TrainingConfigError(
                f"--init-adapter {config.init_adapter} does not fit {config.model_path}: {exc}"
            ) from None
        state, saved = TrainState(), None
    else:
        lora = LoraConfig(
            r=config.rank,
            lora_alpha=config.alpha,
            lora_dropout=config.dropout,
            target_modules=list(config.target_modules),
            task_type="CAUSAL_LM",
        )
        model, state, saved = get_peft_model(base, lora), TrainState(), None
    model.train()
    return model, state, saved


def _check_init_adapter(config: TrainConfig) -> None:
    """The adapter to start from must be a LoRA of the same shape as the one asked for (dropout too: it is
    read from the adapter), in safetensors, and not the folder this run writes."""
    path = config.init_adapter
    assert path is not None
    if path.resolve() == config.out.resolve():
        raise TrainingConfigError(
            f"--init-adapter {path} is the --out folder: write the new adapter elsewhere"
        )
    if not (path / "adapter_model.safetensors").is_file():
        raise TrainingConfigError(f"--init-adapter {path}: no adapter_model.safetensors")
    try:
        saved = json.loads((path / "adapter_config.json").read_text())
    except (OSError, ValueError) as exc:
        raise TrainingConfigError(f"--init-adapter {path}: no readable adapter_config.json ({exc})") from None
    found = (
        saved.get("r"),
        saved.get("lora_alpha"),
        saved.get("lora_dropout"),
        sorted(saved.get("target_modules") or []),
    )
    wanted = (config.rank, config.alpha, config.dropout, sorted(config.target_modules))
    if found != wanted:
        raise TrainingConfigError(
            f"--init-adapter {path} has rank {found[0]}, alpha {found[1]}, dropout {found[2]}, "
            f"modules {found[3]}; this run asks for rank {wanted[0]}, alpha {wanted[1]}, "
            f"dropout {wanted[2]}, modules {wanted[3]}"
        )


def _optimizer(
    model: Any, config: TrainConfig, total_steps: int, saved: dict[str, Any] | None
) -> tuple[Any, Any]:
    """AdamW over the trainable weights and a cosine schedule with warm-up, restored when resuming."""
    from transformers import get_cosine_schedule_with_warmup

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, max(1, int(total_steps * config.warmup_ratio)), total_steps
    )
    if saved is not None:
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
    return optimizer, scheduler
