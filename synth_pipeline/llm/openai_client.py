"""The run's ``AsyncOpenAI`` client, and the key it needs kept out of everything else.

The key comes from the environment only, read when a run starts:
``SYNTH_GENERATOR_API_KEY`` / ``SYNTH_JUDGE_API_KEY``, else ``OPENAI_API_KEY``. It is
never stored, and :class:`Redactor` removes it (and anything key-shaped) from every
error text before that reaches a row, a log line or an exception.
"""

from __future__ import annotations

import os
import re

import openai

from synth_pipeline.settings import Settings

OPENAI_HOST = "api.openai.com"
_KEYISH = re.compile(r"\b(sk-[A-Za-z0-9_\-]{6,}|Bearer\s+\S+)", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def api_key_for(role: str) -> str | None:
    """The key for ``role`` ("generator"/"judge"), read from the environment now."""
    return os.environ.get(f"SYNTH_{role.upper()}_API_KEY") or os.environ.get("OPENAI_API_KEY") or None


def base_url_for(settings: Settings, role: str) -> str | None:
    return getattr(settings, f"{role}_base_url") or os.environ.get("OPENAI_BASE_URL") or None


class Redactor:
    """Removes the run's keys (and anything key-shaped) from text before it is kept."""

    def __init__(self, *secrets: str | None):
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: object) -> str:
        out = str(text)
        for secret in self.secrets:
            out = out.replace(secret, "[REDACTED]")
        out = _KEYISH.sub("[REDACTED]", out)
        return _URL_USERINFO.sub("***@", out)


def redactor_for(role: str) -> Redactor:
    return Redactor(api_key_for(role), os.environ.get("OPENAI_API_KEY"))


class MissingAPIKey(RuntimeError):
    pass


def make_async_client(settings: Settings, role: str) -> openai.AsyncOpenAI:
    """The run's one client: no SDK retries (ours count attempts), a pool sized to the concurrency."""
    base_url = base_url_for(settings, role)
    key = api_key_for(role)
    if not key:
        if base_url is None or OPENAI_HOST in base_url:
            raise MissingAPIKey(
                f"SYNTH_LLM_BACKEND=openai needs OPENAI_API_KEY (or SYNTH_{role.upper()}_API_KEY) in the "
                "environment, or OPENAI_BASE_URL pointing at a server that needs no key"
            )
        key = "no-key"  # vLLM, Ollama, llama.cpp accept any key
    connections = settings.max_concurrency + 8
    timeout = openai.Timeout(settings.request_timeout_s, connect=min(10.0, settings.request_timeout_s))
    http_client = openai.DefaultAsyncHttpxClient(
        timeout=timeout,
        limits=_limits(max_connections=connections, max_keepalive_connections=connections),
    )
    return openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout, http_client=http_client)


def _limits(**kwargs):
    """Connection limits for the HTTP library this openai release uses (httpx2 in 3.x, httpx before)."""
    try:
        import httpx2 as http
    except ImportError:  # openai < 3
        import httpx as http
    return http.Limits(**kwargs)


def error_message(exc: openai.APIStatusError) -> str:
    """The server's own message in an error response, else the exception's text."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(exc)
