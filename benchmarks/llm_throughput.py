"""Generation-stage throughput against a local OpenAI-protocol server, beside bare clients.

Measured in one run, against one server with a fixed per-request latency (default
200 ms) running in its own process (``benchmarks/harness/openai_server.py``, plain
asyncio, so its CPU is not taken from the client's interpreter):

* ``sequential``: a plain ``for`` loop of ``await client.chat.completions.create``;
* ``bare``: ``asyncio.gather`` over all requests with an ``asyncio.Semaphore(c)``, on a
  client built exactly like the stage's (``make_async_client``: same connection pool,
  same timeouts, SDK retries off);
* ``bare-post``: the same gather, sending through ``client.post(..., cast_to=ChatCompletion)``,
  the SDK call the stage uses (it skips the SDK's parameter re-walk); the gap between
  ``bare-post`` and ``stage`` is the stage's own overhead;
* ``stage``: ``OpenAIGenerator.generate`` as the ``generated_samples`` asset calls it:
  cache lookup, workers, retry loop, accounting, the journal and the batched cache
  writes to a fresh DuckDB warehouse, progress.

Each is reported in requests per second, as a share of the ideal (concurrency ÷
latency) and of both bare clients (``bare``: what most code calls; ``bare-post``: the
stage's own call path, the stricter baseline), with client CPU per request (``time.process_time``
of this process, all threads, so the stage's cache thread counts). Bare and stage
alternate over ``--rounds`` rounds with fresh prompts each time. On a shared machine the
load of other work moves every row; the table shows the median, the best round, and the
stage/bare ratio taken within each round (back-to-back runs see the same load).

    .venv/bin/python benchmarks/llm_throughput.py                 # 200 ms, c=32 and 128
    .venv/bin/python benchmarks/llm_throughput.py --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openai.types.chat import ChatCompletion  # noqa: E402

from benchmarks.harness.openai_server import running_server  # noqa: E402
from synth_pipeline.chat import GenerationRequest  # noqa: E402
from synth_pipeline.llm.openai_backend import OpenAIGenerator  # noqa: E402
from synth_pipeline.llm.openai_client import make_async_client  # noqa: E402
from synth_pipeline.settings import Settings  # noqa: E402
from synth_pipeline.storage.warehouse import Warehouse  # noqa: E402

PASSAGE = (
    "A context manager is an object that defines the runtime context to be established when "
    "executing a with statement. The context manager handles the entry into, and the exit from, "
    "the desired runtime context for the execution of the block of code. Context managers are "
    "normally invoked using the with statement, but can also be used by directly invoking their "
    "methods. Typical uses of context managers include saving and restoring various kinds of "
    "global state, locking and unlocking resources, closing opened files, etc."
)


def make_requests(n: int, tag: str, model: str) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            request_id=f"{tag}-{i}",
            messages=[
                {"role": "system", "content": "You write clear, faithful training material."},
                {
                    "role": "user",
                    "content": f"Passage {tag}/{i}:\n{PASSAGE}\n\nExplain this passage to a student, step by step.",
                },
            ],
            model=model,
            temperature=0.8,
            max_tokens=512,
            seed=7,
        )
        for i in range(n)
    ]


def _kwargs(r: GenerationRequest) -> dict:
    return {
        "model": r.model,
        "messages": r.messages,
        "temperature": r.temperature,
        "max_tokens": r.max_tokens,
        "seed": r.seed,
    }


def _percent_of(row: dict):
    """The row's share ``key`` as a percentage, '-' where the row has none."""

    def pct(key: str) -> str:
        return f"{row[key]:.1%}" if key in row else "-"

    return pct


def measure(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def run_sequential(settings: Settings, requests) -> None:
    async def go():
        client = make_async_client(settings, "generator")
        try:
            for r in requests:
                await client.chat.completions.create(**_kwargs(r))
        finally:
            await client.close()

    asyncio.run(go())


def run_bare(settings: Settings, requests, concurrency: int, raw_post: bool = False) -> None:
    async def go():
        client = make_async_client(settings, "generator")
        semaphore = asyncio.Semaphore(concurrency)

        async def one(r):
            async with semaphore:
                if raw_post:  # the call path the stage uses
                    return await client.post("/chat/completions", body=_kwargs(r), cast_to=ChatCompletion)
                return await client.chat.completions.create(**_kwargs(r))

        try:
            await asyncio.gather(*(one(r) for r in requests))
        finally:
            await client.close()

    asyncio.run(go())


def run_stage(settings: Settings, requests) -> None:
    home = Path(tempfile.mkdtemp(prefix="llm-bench-"))
    stage_settings = settings.model_copy(update={"home": home})
    generator = OpenAIGenerator(stage_settings, Warehouse(stage_settings.warehouse_path))
    results = generator.generate(requests)
    errors = sum(r.error is not None for r in results)
    if errors or generator.last_run["sent"] != len(requests):
        raise SystemExit(f"stage run was not clean: {generator.last_run}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--seconds", type=float, default=8.0, help="target length of one measurement at the ideal rate")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sequential", type=int, default=20, help="requests of the sequential loop")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    os.environ.setdefault("OPENAI_API_KEY", "sk-local-benchmark-key")
    load_before = os.getloadavg()[0]
    rows = []
    with running_server(latency_s=args.latency, mode="process") as (base_url, stats):
        settings = Settings(
            llm_backend="openai",
            generator_model="local-generator",
            generator_base_url=base_url,
            request_timeout_s=30,
            progress_interval_s=3600,
        )
        seq = make_requests(args.sequential, "seq", "local-generator")
        wall, cpu = measure(lambda: run_sequential(settings, seq))
        rows.append(
            {
                "mode": "sequential",
                "concurrency": 1,
                "requests": len(seq),
                "wall_s": wall,
                "req_s": len(seq) / wall,
                "ideal_req_s": 1 / args.latency,
                "cpu_ms_per_req": 1000 * cpu / len(seq),
            }
        )
        for c in args.concurrency:
            ideal = c / args.latency
            n = max(c * 4, int(ideal * args.seconds))
            # warm up the interpreter (imports, pyarrow for DuckDB) and the server at this concurrency
            warm = settings.model_copy(update={"max_concurrency": c})
            run_bare(warm, make_requests(c * 2, f"warm{c}", "local-generator"), c)
            run_stage(warm, make_requests(c * 2, f"warmstage{c}", "local-generator"))
            modes = ("bare", "stage", "bare-post")
            found: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
            for k in range(args.rounds):
                cs = settings.model_copy(update={"max_concurrency": c})
                for mode in modes if k % 2 == 0 else modes[::-1]:
                    requests = make_requests(n, f"{mode}{c}r{k}", "local-generator")
                    if mode == "stage":
                        found[mode].append(measure(functools.partial(run_stage, cs, requests)))
                    else:
                        run = functools.partial(run_bare, cs, requests, c, raw_post=mode == "bare-post")
                        found[mode].append(measure(run))
            bare_rates = [n / w for w, _ in found["bare"]]
            post_rates = [n / w for w, _ in found["bare-post"]]
            for mode in modes:
                rates = [n / w for w, _ in found[mode]]
                # Each round runs bare and stage back to back, so their ratio within a round
                # cancels most of the load other work puts on a shared machine.
                paired = statistics.median(r / b for r, b in zip(rates, bare_rates, strict=True))
                paired_post = statistics.median(r / b for r, b in zip(rates, post_rates, strict=True))
                rows.append(
                    {
                        "mode": mode,
                        "concurrency": c,
                        "requests": n,
                        "rounds": args.rounds,
                        "req_s": statistics.median(rates),
                        "best_req_s": max(rates),
                        "ideal_req_s": ideal,
                        "share_of_ideal": statistics.median(rates) / ideal,
                        "best_share_of_ideal": max(rates) / ideal,
                        "share_of_bare": paired,
                        "best_share_of_bare": max(rates) / max(bare_rates),
                        "share_of_bare_post": paired_post,
                        "best_share_of_bare_post": max(rates) / max(post_rates),
                        "cpu_ms_per_req": statistics.median(1000 * cpu / n for _, cpu in found[mode]),
                        "all_req_s": [round(r, 1) for r in rates],
                    }
                )
        final = stats.snapshot()
        received = final["received"]
        server_cpu_ms = 1000 * final["process_cpu_s"] / max(1, received)

    print(
        f"\nlocal OpenAI-protocol server in a child process, latency {args.latency * 1000:.0f} ms; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; server received {received} requests; "
        f"server CPU {server_cpu_ms:.2f} ms/request; 1-min load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after (other work on the machine skews all rows alike)\n"
    )
    print(
        f"{'mode':<11} {'conc':>4} {'requests':>8} {'req/s':>7} {'best':>7} {'ideal':>6} {'% ideal':>8} "
        f"{'best %ideal':>11} {'% bare':>7} {'best/best':>9} {'% post':>7} {'best/best':>9} {'CPU ms/req':>10}"
    )
    for row in rows:
        pct = _percent_of(row)
        print(
            f"{row['mode']:<11} {row['concurrency']:>4} {row['requests']:>8} {row['req_s']:>7.1f} "
            f"{row.get('best_req_s', row['req_s']):>7.1f} {row['ideal_req_s']:>6.0f} "
            f"{row['req_s'] / row['ideal_req_s']:>8.1%} "
            f"{pct('best_share_of_ideal'):>11} {pct('share_of_bare'):>7} {pct('best_share_of_bare'):>9} "
            f"{pct('share_of_bare_post'):>7} {pct('best_share_of_bare_post'):>9} "
            f"{row['cpu_ms_per_req']:>10.2f}"
        )
    print(
        "\nreq/s and % ideal: median over rounds; % bare: median of the per-round ratios to bare "
        "(chat.completions.create); % post: the same against bare-post (client.post, the faster call the "
        "stage itself makes); best: the fastest round of each (closest to an idle machine)."
    )
    verdicts = []
    for row in rows:
        if row["mode"] == "stage":
            verdicts.append(
                f"c={row['concurrency']}: stage/bare {row['share_of_bare']:.1%} paired, "
                f"{row['best_share_of_bare']:.1%} best/best; stage/bare-post {row['share_of_bare_post']:.1%} "
                f"paired, {row['best_share_of_bare_post']:.1%} best/best (target >= 95%)"
            )
            if row["concurrency"] == 32:
                verdicts.append(
                    f"c=32: stage/ideal {row['share_of_ideal']:.1%} median, "
                    f"{row['best_share_of_ideal']:.1%} best (target >= 85%)"
                )
    print("\n".join(verdicts))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"latency_s": args.latency, "load_average": [load_before, os.getloadavg()[0]], "rows": rows}, indent=2
            )
        )


if __name__ == "__main__":
    main()
