"""SFT and DPO with trl and peft: (IA)3 (or LoRA) on the neuron site (down_proj), resumable, written atomically."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from datasets import Dataset

from safety_neurons.data.formats import render, tokenize_chat
from safety_neurons.data.loaders import split_chat
from safety_neurons.files import ArtifactError, read_jsonl, staged_dir, write_json
from safety_neurons.models.loading import load_base, load_tokenizer, placement
from safety_neurons.neurons.hooks import neuron_sites, site_pattern
from safety_neurons.progress import progress

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
METRICS_FILE = "adapter_metrics.json"  # beside the adapter, named so the three files form one multiext output


def adapter_config(hp: dict):
    """The peft config on every neuron site (down_proj by default): (IA)3 as in the paper (target = feedforward
    module, so it scales the site's input, the neurons), or LoRA."""
    from peft import IA3Config, LoraConfig

    sites = site_pattern(hp["neuron_site"])  # a regex: peft matches it against each module's full name
    if hp["adapter"] == "ia3":
        return IA3Config(task_type="CAUSAL_LM", target_modules=sites, feedforward_modules=sites)
    return LoraConfig(
        task_type="CAUSAL_LM",
        target_modules=sites,
        r=hp["lora_r"],
        lora_alpha=hp["lora_alpha"],
        lora_dropout=0.0,
    )


def trainer_args(hp: dict, seed: int, ckpt_dir: Path, on_gpu: bool) -> dict:
    """TrainingArguments shared by SFT and DPO, from the stage's hyperparameters. bf16 mixed precision and
    activation (gradient) checkpointing as configured on a GPU, and on CPU with ``cpu_precision: configured``."""
    exact = on_gpu or hp["cpu_precision"] == "configured"
    return dict(
        output_dir=str(ckpt_dir),
        learning_rate=hp["lr"],
        num_train_epochs=hp["epochs"],
        per_device_train_batch_size=hp["per_device_batch"],
        gradient_accumulation_steps=hp["grad_accum"],
        weight_decay=hp["weight_decay"],
        lr_scheduler_type=hp["scheduler"],
        warmup_steps=hp["warmup_steps"],
        optim="adamw_torch",
        adam_epsilon=hp["adam_epsilon"],
        seed=seed,
        data_seed=seed,
        logging_steps=hp["logging_steps"],
        save_strategy="steps",
        save_steps=hp["save_steps"],
        save_total_limit=2,
        report_to=[],
        bf16=exact and hp["bf16"],
        activation_checkpointing=exact and hp["gradient_checkpointing"],
        use_cpu=not on_gpu,
        disable_tqdm=True,
        max_length=hp["max_length"],
        dataloader_num_workers=0,
    )


def progress_callback():
    """A trainer callback that logs step i/N, seconds per step and the ETA at every logging step."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.t0, self.first = time.perf_counter(), state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            done, total = state.global_step - self.first, state.max_steps - self.first
            if done > 0 and logs and "loss" in logs:
                line = progress(
                    done, total, time.perf_counter() - self.t0, f"step {state.global_step}/{state.max_steps}"
                )
                logging.getLogger(__name__).info("%s, loss %.4g", line, logs["loss"])

    return Progress()


def last_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest complete trainer checkpoint, to resume a preempted job from."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None


def step_of(checkpoint: str | None) -> int:
    """The optimizer step a trainer checkpoint was saved at (0 without one)."""
    return int(Path(checkpoint).name.rsplit("-", 1)[1]) if checkpoint else 0


def first_last(history: list[dict], key: str) -> tuple[float | None, float | None]:
    """The first and last logged value of ``key`` (None when never logged)."""
    values = [h[key] for h in history if key in h]
    return (values[0], values[-1]) if values else (None, None)


def _check_finite(trainer, history: list[dict], out_dir: Path) -> None:
    """Refuse to write an adapter whose training diverged: a NaN/inf loss or adapter weight."""
    import math

    import torch

    bad_loss = next((h for h in history if not math.isfinite(h["loss"])), None)
    bad_weights = [n for n, w in trainer.model.named_parameters() if w.requires_grad and not torch.isfinite(w).all()]
    if bad_loss or bad_weights:
        where = f"loss {bad_loss['loss']} at step {bad_loss.get('step')}" if bad_loss else f"weights {bad_weights[:3]}"
        raise ArtifactError(f"{out_dir}: training diverged ({where}); no adapter written (lower the learning rate)")


def finish(trainer, out_dir: Path, ckpt_dir: Path, metrics: dict, t0: float) -> dict:
    """Save adapter and metrics into ``out_dir`` together (atomically), then drop the checkpoints. ``seconds``:
    the whole stage; ``train_seconds`` (in ``metrics``): the optimizer loop alone."""
    hist = [h for h in trainer.state.log_history if "loss" in h]
    metrics.update(steps=trainer.state.global_step, seconds=time.perf_counter() - t0, log_history=hist)
    metrics["precision"] = {  # what the run really used, to check against the config
        "device": str(trainer.model.device),
        "dtype": str(trainer.model.dtype).removeprefix("torch."),
        "bf16_mixed": bool(trainer.args.bf16),
        "activation_checkpointing": bool(getattr(trainer.model, "is_activation_checkpointing", False)),
    }
    metrics["loss_first"], metrics["loss_last"] = first_last(hist, "loss")
    if any("rewards/accuracies" in h for h in hist):  # DPO
        metrics["reward_accuracy_first"], metrics["reward_accuracy_last"] = first_last(hist, "rewards/accuracies")
    _check_finite(trainer, hist, out_dir)
    with staged_dir(out_dir) as tmp:
        trainer.model.save_pretrained(str(tmp))
        for extra in set(p.name for p in tmp.iterdir()) - set(ADAPTER_FILES):
            (tmp / extra).unlink()
        write_json(metrics, tmp / METRICS_FILE)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return metrics


def train_sft(base_dir: str, data_path: str, out_dir: str, hp: dict, seed: int, chat_format: str) -> dict:
    """Supervised fine-tuning on chat records with loss on assistant tokens only."""
    from trl import SFTConfig, SFTTrainer

    t0 = time.perf_counter()
    out, ckpt = Path(out_dir), Path(out_dir).parent / ".checkpoints_sft"
    tok = load_tokenizer(base_dir)
    n_tokens = lambda text: len(tok(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    chats = [c for r in read_jsonl(data_path) for c in split_chat(r, n_tokens, hp["max_length"])]
    records = chats[: hp.get("max_examples") or None]
    rows = [tokenize_chat(r["messages"], tok, chat_format, hp["max_length"]) for r in records]
    rows = [r for r in rows if any(r["assistant_masks"])]
    device, dtype = placement("bfloat16" if hp["bf16"] else "float32", hp["cpu_precision"])
    on_gpu = device == "cuda"
    model = load_base(base_dir, dtype, device, hp["neuron_site"]).train()
    neuron_sites(model)  # a model without the configured site fails here, saying how to set it, not inside peft
    args = SFTConfig(**trainer_args(hp, seed, ckpt, on_gpu))
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
        peft_config=adapter_config(hp),
        callbacks=[progress_callback()],
    )
    resume = last_checkpoint(ckpt)
    loop = trainer.train(resume_from_checkpoint=resume).metrics["train_runtime"]
    metrics = {"n_examples": len(rows), "stage": "sft", "resumed_from_step": step_of(resume), "train_seconds": loop}
    return finish(trainer, out, ckpt, metrics, t0)


def preference_rows(records: list[dict], tok, chat_format: str) -> list[dict]:
    """trl's standard preference format: a rendered prompt and the two responses as text."""
    return [
        {
            "prompt": render(r["prompt_messages"], tok, chat_format, add_generation_prompt=True),
            "chosen": r["chosen"],
            "rejected": r["rejected"],
        }
        for r in records
    ]


def train_dpo(base_dir: str, sft_dir: str, data_path: str, out_dir: str, hp: dict, seed: int, chat_format: str) -> dict:
    """DPO of a new adapter on the merged SFT model; the reference is SFT (the adapter disabled)."""
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    t0 = time.perf_counter()
    out, ckpt = Path(out_dir), Path(out_dir).parent / f".checkpoints_{Path(out_dir).name}"
    tok = load_tokenizer(base_dir)
    records = read_jsonl(data_path)[: hp.get("max_examples") or None]
    device, dtype = placement("bfloat16" if hp["bf16"] else "float32", hp["cpu_precision"])
    on_gpu = device == "cuda"
    base = load_base(base_dir, dtype, device, hp["neuron_site"])
    neuron_sites(base)
    model = PeftModel.from_pretrained(base, sft_dir).merge_and_unload().train()
    args = DPOConfig(
        **trainer_args(hp, seed, ckpt, on_gpu),
        beta=hp["beta"],
        loss_type=list(hp["loss_type"]),
        loss_weights=hp["loss_weights"],
        precompute_ref_log_probs=hp["precompute_ref_log_probs"],
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        processing_class=tok,
        peft_config=adapter_config(hp),
        train_dataset=Dataset.from_list(preference_rows(records, tok, chat_format)),
        callbacks=[progress_callback()],
    )
    resume = last_checkpoint(ckpt)
    loop = trainer.train(resume_from_checkpoint=resume).metrics["train_runtime"]
    metrics = {"n_examples": len(records), "stage": "dpo", "beta": hp["beta"], "resumed_from_step": step_of(resume)}
    metrics |= {"loss_type": list(args.loss_type), "loss_weights": args.loss_weights}  # what trl really ran
    return finish(trainer, out, ckpt, metrics | {"train_seconds": loop}, t0)
