"""Settings for generation, shared by the CLI, the batch runner and the API (env prefix ``ADCREATIVE_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.paths import adapters_dir_in, cache_dir_in, default_home

DEFAULT_FORBIDDEN_WORDS = (
    "guaranteed",
    "guarantee",
    "risk-free",
    "miracle",
    "cure",
    "cures",
    "free money",
    "get rich",
    "lose weight fast",
    "act now",
    "click here",
    "100% free",
    "no risk",
    "best ever",
)


DEFAULT_MODEL_NAME = "smollm2-135m-instruct"


class Settings(BaseSettings):
    """Everything tunable about the engine and the request limits.

    Every field can be set from the environment, e.g. ``ADCREATIVE_MODEL_PATH=/models/qwen-7b``.
    """

    model_config = SettingsConfigDict(env_prefix="ADCREATIVE_", extra="ignore")

    # Model and engine -------------------------------------------------------------------------
    home: Path = Field(
        default_factory=default_home,
        description="The service's data folder (ADCREATIVE_HOME): cache/, templates.db, adapters/; default "
        "var/ in a checkout, the user's data folder for an installed package.",
    )
    cache_dir: Path = Field(
        default_factory=lambda data: cache_dir_in(data["home"]),
        description="The prepared default model and vLLM's cache; default HOME/cache.",
    )
    model_path: Path | None = Field(
        default=None,
        description="Any local Hugging Face model folder; default: the prepared SmolLM2-135M-Instruct.",
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        default="auto",
        description="auto: bfloat16 on CUDA or a CPU with native bf16 (AVX-512 BF16/AMX), else float32.",
    )
    max_model_len: int = Field(default=1024, ge=128, le=131072)
    kv_cache_bytes: int = Field(
        default=256 << 20, ge=16 << 20, description="KV-cache size in bytes (CPU needs it explicit)."
    )
    max_num_seqs: int = Field(default=64, ge=1, le=1024, description="Sequences the engine batches.")
    max_num_batched_tokens: int = Field(
        default=512,
        ge=64,
        description="Tokens per engine step; longer prompts are prefilled in chunks of this size so decodes "
        "keep flowing.",
    )
    kv_block_size: int = Field(
        default=32,
        ge=32,
        multiple_of=32,
        description="KV-cache block size on the CPU (tokens; vLLM's CPU attention takes multiples of 32). "
        "Prefix caching shares whole blocks only: with vLLM's CPU default of 128, the n candidates of a "
        "request and requests on one template each recompute up to 127 prompt tokens.",
    )
    enforce_eager: bool = True
    device: Literal["auto", "cpu", "cuda"] = "auto"
    gpu_memory_utilization: float = Field(default=0.85, gt=0.0, le=1.0)

    # LoRA adapters ------------------------------------------------------------------------------
    enable_lora: bool = Field(default=True, description="Serve LoRA adapters (vLLM enable_lora).")
    adapters_dir: Path = Field(
        default_factory=lambda data: adapters_dir_in(data["home"]),
        description="Adapters registered at start beside the shipped ones (one folder each); default "
        "HOME/adapters.",
    )
    shipped_adapters: bool = Field(
        default=True, description="Register the adapters shipped with the package (house, playful, premium)."
    )
    adapter_roots: list[Path] = Field(
        default_factory=list,
        description="Extra folders runtime registration may load adapters from (adapters_dir always is).",
    )
    default_adapter: str | None = Field(
        default="house", description="Applied when a request does not name one; null = the base model."
    )
    max_loras: int = Field(default=4, ge=1, le=64, description="Adapters in one engine batch.")
    max_cpu_loras: int = Field(default=16, ge=1, le=1024, description="Adapters kept loaded in memory.")
    max_lora_rank: int = Field(default=16, ge=1, le=512)
    lora_target_modules: tuple[str, ...] = Field(
        default=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        min_length=1,
        description="Modules the engine serves LoRA on (vLLM lora_target_modules); adapters that train "
        "any other module are refused at registration.",
    )

    # off by default: with the current house adapter it changed no candidate's name spelling (2 of 672
    # misspelled either way, bench/bench_copy_decoding.py) and cost ~9% of throughput
    exact_names: bool = Field(
        default=False,
        description="Finish a product or brand name the copy has begun exactly as spelled, while decoding "
        "(creative.name_decoding); off: near misses are only repaired afterwards.",
    )
    faithful_numbers: bool = Field(
        default=True,
        description="Write only numbers the product facts hold, while decoding (creative.number_decoding); "
        "off: candidates with other numbers are only rejected afterwards.",
    )
    fit_words: bool = Field(
        default=True,
        description="Close each field before its limit instead of starting a word there that the grammar "
        "would cut (creative.word_fit); off: cut words are only repaired afterwards.",
    )

    # Request limits -----------------------------------------------------------------------------
    max_concurrent_requests: int = Field(
        default=16, ge=1, le=1024, description="Requests generating at once (CLI and API)."
    )
    max_prompt_tokens: int = Field(default=768, ge=32)
    max_output_tokens: int = Field(default=192, ge=16, le=4096)
    max_n: int = Field(default=16, ge=1, le=128)
    # 8: the most personalized top-k for +0.15 s of a lone request over 4 (bench/bench_n_tradeoff.py)
    default_n: int = Field(default=8, ge=1)
    max_k: int = Field(default=16, ge=1, le=128)
    default_k: int = Field(default=3, ge=1)
    max_regenerations: int = Field(
        default=2, ge=0, le=8, description="Extra rounds for variants that fail checks after repair."
    )
    default_temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    default_top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    forbidden_words: tuple[str, ...] = DEFAULT_FORBIDDEN_WORDS

    # Privacy --------------------------------------------------------------------------------------
    log_sensitive: bool = Field(
        default=False, description="Log profile fields and generated copy (off by default)."
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        # A default left unset follows a lower limit (MAX_N=6 alone serves n=6); one set above it is an error.
        for default, limit in (("default_n", "max_n"), ("default_k", "max_k")):
            value, most = getattr(self, default), getattr(self, limit)
            if value > most and default not in self.model_fields_set:
                object.__setattr__(self, default, most)
            elif value > most:
                raise ValueError(f"{default} ({value}) exceeds {limit} ({most})")
        if self.max_prompt_tokens + self.max_output_tokens > self.max_model_len:
            raise ValueError(
                f"max_prompt_tokens + max_output_tokens ({self.max_prompt_tokens} + "
                f"{self.max_output_tokens}) exceeds max_model_len ({self.max_model_len})"
            )
        return self

    @property
    def default_model_dir(self) -> Path:
        """Where the packaged default model is prepared (inside the cache)."""
        return self.cache_dir / "models" / DEFAULT_MODEL_NAME

    @property
    def resolved_model_path(self) -> Path:
        """The model folder to load: the configured one or the prepared default."""
        if self.model_path is not None:
            return self.model_path.expanduser().resolve()
        return self.default_model_dir
