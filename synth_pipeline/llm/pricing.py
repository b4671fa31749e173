"""What a request cost: a price table per model, overridable per deployment.

Prices are US dollars per one million tokens, with separate input (prompt), cached
input and output (completion) rates, the way providers publish them. The built-in table
holds OpenAI list prices for common models as published in 2025 (standard tier, not
Batch); prices change, so deployments that care set their own with
``SYNTH_PRICE_TABLE``, either inline JSON or the path of a JSON file::

    SYNTH_PRICE_TABLE='{"gpt-4o-mini": {"input": 0.15, "output": 0.60},
                        "meta-llama/Llama-3.1-8B-Instruct": {"input": 0, "output": 0}}'

Entries given there replace built-in entries of the same name; the rest stay. A model
is matched exactly first, then by the longest table entry it starts with (so
``gpt-4o-mini-2024-07-18`` prices as ``gpt-4o-mini``). A model with no entry (a local
vLLM, Ollama or llama.cpp model, usually) costs 0.0 and is reported once as unpriced,
so a report never shows a made-up figure.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# USD per 1M tokens: input, cached input, output.  Standard tier, as published by OpenAI in 2025.
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.60},
    "gpt-4o": {"input": 2.50, "cached_input": 1.25, "output": 10.00},
    "gpt-4.1": {"input": 2.00, "cached_input": 0.50, "output": 8.00},
    "gpt-4.1-mini": {"input": 0.40, "cached_input": 0.10, "output": 1.60},
    "gpt-4.1-nano": {"input": 0.10, "cached_input": 0.025, "output": 0.40},
    "gpt-5": {"input": 1.25, "cached_input": 0.125, "output": 10.00},
    "gpt-5-mini": {"input": 0.25, "cached_input": 0.025, "output": 2.00},
    "gpt-5-nano": {"input": 0.05, "cached_input": 0.005, "output": 0.40},
    "o4-mini": {"input": 1.10, "cached_input": 0.275, "output": 4.40},
    "gpt-3.5-turbo": {"input": 0.50, "output": 1.50},
}


@dataclass(frozen=True)
class Price:
    input: float  # USD per 1M prompt tokens
    output: float  # USD per 1M completion tokens
    cached_input: float | None = None  # USD per 1M prompt tokens served from the provider's prompt cache

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_prompt_tokens: int = 0) -> float:
        cached = min(max(cached_prompt_tokens, 0), prompt_tokens) if self.cached_input is not None else 0
        usd = (
            (prompt_tokens - cached) * self.input
            + cached * (self.cached_input or 0.0)
            + completion_tokens * self.output
        ) / 1_000_000
        return round(usd, 10)


class PriceTable:
    def __init__(self, entries: dict[str, dict[str, float]] | None = None):
        merged = {**DEFAULT_PRICES, **(entries or {})}
        self.prices: dict[str, Price] = {}
        for model, entry in merged.items():
            try:
                self.prices[model] = Price(
                    input=float(entry["input"]),
                    output=float(entry["output"]),
                    cached_input=float(entry["cached_input"]) if entry.get("cached_input") is not None else None,
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"price table entry for {model!r} needs numeric 'input' and 'output' (USD per 1M tokens): {exc}"
                ) from None
        self._warned: set[str] = set()

    @classmethod
    def from_setting(cls, value: str | None) -> PriceTable:
        """``value`` is inline JSON, a path to a JSON file, or empty (built-in table)."""
        if not value or not value.strip():
            return cls()
        text = value.strip()
        if not text.startswith("{"):
            path = Path(text).expanduser()
            if not path.is_file():
                raise ValueError(f"SYNTH_PRICE_TABLE is neither JSON nor an existing file: {text!r}")
            text = path.read_text(encoding="utf-8")
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"SYNTH_PRICE_TABLE is not valid JSON: {exc.msg}") from None
        if not isinstance(entries, dict):
            raise ValueError("SYNTH_PRICE_TABLE must be a JSON object {model: {input, output[, cached_input]}}")
        return cls(entries)

    def lookup(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        candidates = [name for name in self.prices if model.startswith(name)]
        if candidates:
            return self.prices[max(candidates, key=len)]
        return None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int, cached_prompt_tokens: int = 0) -> float:
        price = self.lookup(model)
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                log.warning("no price for model %r: its cost is recorded as 0.0 (set SYNTH_PRICE_TABLE)", model)
            return 0.0
        return price.cost(prompt_tokens, completion_tokens, cached_prompt_tokens)

    def is_priced(self, model: str) -> bool:
        return self.lookup(model) is not None
