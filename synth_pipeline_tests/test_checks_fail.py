"""Every check seen failing through a real run of the graph, named after the check it fails.

A check that no test has seen fail may be unable to fail. Each test here brings a check
to fail by the means a deployment could meet: an evaluation set that grew after the
candidates were built, a partial re-run after a setting changed, a model that copies, drifts
and skews, a judge that is its own generator, a provider that errors. Blocking checks are
shown stopping every downstream asset of the run; warnings are shown firing without
blocking. Where no setting or input can produce the fault (broken item ids), a table is
damaged between two steps, as a faulty code change would leave it.

Checks failed elsewhere, under the same naming: ``synthetic_ratio_within_cap``,
``diversity_above_thresholds``, ``acceptance_rate_in_band`` (test_checks_block.py),
``real_data_accumulates`` (test_real_data_ledger.py), ``corpus_accounts_for_every_record``
(test_corpus_partitions.py).
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import duckdb
import pytest

import benchmarks.harness.openai_server as server
from synth_pipeline_tests.conftest import PARTITION, checks_by_name, query, run_graph

pytestmark = pytest.mark.graph

AFTER_CANDIDATES = ["deduplicated_mix", "mix_exclusions", "quality_report", "dataset_release"]
OPENAI = dict(
    SYNTH_LLM_BACKEND="openai",
    OPENAI_API_KEY="sk-checks-fail-test",
    SYNTH_GENERATOR_MODEL="local-generator",
    SYNTH_JUDGE_MODEL="local-judge",
    SYNTH_MAX_CONCURRENCY="8",
)


def materialised(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def _copy(healthy_run, tmp_path: Path) -> Path:
    """A warehouse in which the whole graph already ran once for PARTITION (the shared run)."""
    home = tmp_path / "home"
    shutil.copytree(healthy_run[0], home, ignore=shutil.ignore_patterns("*.lock"))
    return home


def _outputs(home: Path) -> dict[str, bytes]:
    """What the report and the release left on disk, to prove a blocked run did not touch them."""
    files = [home / "reports" / f"quality_report_{PARTITION}.html", home / "releases" / PARTITION / "manifest.json"]
    return {str(f): f.read_bytes() for f in files}


def _assert_blocked(result, home: Path, before: dict[str, bytes], stopped: list[str]) -> None:
    done = materialised(result)
    assert not result.success
    assert not done & set(stopped), f"downstream of a failed blocking check: {done & set(stopped)}"
    assert _outputs(home) == before, "the report and the release of the earlier run are left as they were"


# --- no_contamination -----------------------------------------------------------------
def _mix_text(home: Path, origin: str) -> tuple[str, str]:
    return query(
        home,
        "SELECT item_id, text FROM synth.deduplicated_mix WHERE partition_date = ? AND origin = ? "
        "AND len(string_split(text, ' ')) >= 40 ORDER BY item_id LIMIT 1",
        [PARTITION, origin],
    )[0]


def _evaluation_set(path: Path, texts: list[str]) -> Path:
    """An evaluation file whose questions quote 20 words (> one 13-gram) from each text."""
    with path.open("w") as fh:
        for i, text in enumerate(texts):
            quote = " ".join(text.split()[5:25])
            fh.write(json.dumps({"id": f"q{i}", "question": f"What does this say? {quote}"}) + "\n")
    return path


def test_no_contamination_fails_for_a_real_item_quoted_by_an_evaluation_set_added_after_the_candidates(
    healthy_run, tmp_path
):
    """The evaluation set gained a file after mix_candidates ran; re-assembling the mix must catch it,
    for a real document as for a sample (the text metrics measure synthetic items only)."""
    home = _copy(healthy_run, tmp_path)
    _, real_text = _mix_text(home, "real")
    evaluation = _evaluation_set(tmp_path / "eval.jsonl", [real_text])
    before = _outputs(home)
    result = run_graph(home, selection=AFTER_CANDIDATES, SYNTH_DECONTAMINATE=str(evaluation))
    check = checks_by_name(result)["no_contamination"]
    assert not check.passed and check.severity.value == "ERROR"
    assert check.metadata["contaminated_real_items"].value == 1
    assert "what_to_do" in check.metadata
    # Only the mix's step ran: the mix, the tables it declares beside it, and the check results it stored.
    assert materialised(result) == {
        "deduplicated_mix",
        "mix_metrics",
        "mix_term_groups",
        "mix_overrepresented_ngrams",
        "real_item_ledger",
        "check_results",
    }
    _assert_blocked(result, home, before, ["mix_exclusions", "quality_report", "dataset_release"])


def test_no_contamination_fails_for_synthetic_items_quoted_by_the_evaluation_set(healthy_run, tmp_path):
    home = _copy(healthy_run, tmp_path)
    (n_synthetic,) = query(
        home,
        "SELECT count(*) FROM synth.deduplicated_mix WHERE partition_date = ? AND origin = 'synthetic'",
        [PARTITION],
    )[0]
    _, synthetic_text = _mix_text(home, "synthetic")
    evaluation = _evaluation_set(tmp_path / "eval.jsonl", [synthetic_text])
    result = run_graph(home, selection=AFTER_CANDIDATES, SYNTH_DECONTAMINATE=str(evaluation))
    check = checks_by_name(result)["no_contamination"]
    assert not check.passed
    # One synthetic item quotes the 20 words; others may share one of their 13-grams (samples
    # of one passage): at least 1, and every one of them holds a 13-gram of the quote.
    quote = synthetic_text.split()[5:25]
    grams = {" ".join(quote[i : i + 13]) for i in range(len(quote) - 12)}
    texts = [
        t
        for (t,) in query(
            home,
            "SELECT text FROM synth.deduplicated_mix WHERE partition_date = ? AND origin = 'synthetic'",
            [PARTITION],
        )
    ]
    hits = sum(any(g in " ".join(t.split()) for g in grams) for t in texts)
    assert hits >= 1
    assert check.metadata["contamination_rate"].value == pytest.approx(hits / n_synthetic, abs=1e-6)
    assert "quality_report" not in materialised(result)


# --- unique_keys_and_text -------------------------------------------------------------
def test_unique_keys_and_text_fails_on_a_repeated_id_an_empty_text_and_a_lost_doc_id(healthy_run, tmp_path):
    """No setting makes item ids collide or lineage vanish: mix_candidates is damaged as a broken
    code change would leave it, and the SQL model assembles the mix from it."""
    home = _copy(healthy_run, tmp_path)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        reals = [
            r[0]
            for r in con.execute(
                "SELECT item_id FROM synth.mix_candidates WHERE partition_date = ? AND origin = 'real' "
                "AND exclusion_reason IS NULL ORDER BY item_id LIMIT 3",
                [PARTITION],
            ).fetchall()
        ]
        con.execute("INSERT INTO synth.mix_candidates SELECT * FROM synth.mix_candidates WHERE item_id = ?", [reals[0]])
        con.execute("UPDATE synth.mix_candidates SET text = '   ' WHERE item_id = ?", [reals[1]])
        con.execute("UPDATE synth.mix_candidates SET doc_id = NULL WHERE item_id = ?", [reals[2]])
    before = _outputs(home)
    result = run_graph(home, selection=AFTER_CANDIDATES)
    check = checks_by_name(result)["unique_keys_and_text"]
    assert not check.passed and check.severity.value == "ERROR"
    values = {k: check.metadata[k].value for k in ("duplicate_item_ids", "empty_texts", "items_without_doc_id")}
    assert values == {"duplicate_item_ids": 1, "empty_texts": 1, "items_without_doc_id": 1}
    _assert_blocked(result, home, before, ["mix_exclusions", "quality_report", "dataset_release"])


# --- funnel_accounts_for_every_row ----------------------------------------------------
def test_funnel_accounts_for_every_row_fails_after_a_partial_rerun_with_another_prompt_count(healthy_run, tmp_path):
    """SYNTH_PROMPTS_PER_DOCUMENT raised and seed_prompts re-run alone, then the tail: the samples and
    grades are the old prompts', so prompts exist that no sample answers."""
    home = _copy(healthy_run, tmp_path)
    (old_samples,) = query(home, "SELECT count(*) FROM synth.generated_samples WHERE partition_date = ?", [PARTITION])[
        0
    ]
    before = _outputs(home)
    assert run_graph(home, selection=["seed_prompts"], SYNTH_PROMPTS_PER_DOCUMENT="3").success
    result = run_graph(home, selection=["mix_exclusions", "quality_report", "dataset_release"])
    check = checks_by_name(result)["funnel_accounts_for_every_row"]
    assert not check.passed and check.severity.value == "ERROR"
    sql = "SELECT prompt_id FROM synth.{} WHERE partition_date = ?"
    prompts = {r[0] for r in query(home, sql.format("seed_prompts"), [PARTITION])}
    answered = {r[0] for r in query(home, sql.format("generated_samples"), [PARTITION])}
    assert len(prompts) > old_samples  # three prompts per document now, two before
    assert check.metadata["prompts"].value == len(prompts)
    assert check.metadata["samples"].value == old_samples
    assert check.metadata["prompts_without_sample"].value == len(prompts - answered) > 0
    assert materialised(result) == {"mix_exclusions", "check_results"}  # the step and the results it stored
    _assert_blocked(result, home, before, ["quality_report", "dataset_release"])


# --- the warnings, through a model server ------------------------------------------------
SYLLABLES = "ka lo mi ne tu ra vi so pe du".split()
OFF_TOPIC = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES[:4]]  # 400 words no corpus has
TIC = "He told his son that the man himself was right."


def _misbehaving_completion(body: dict, fingerprint: str) -> str:
    """A generator gone wrong: it copies 20 words of its passage, says the same male-only sentence
    every time, then rambles in a vocabulary the corpus never uses."""
    rng = random.Random(server._h("misbehaving", fingerprint))
    passage = server._last_text(body.get("messages", [])).split("Passage:\n", 1)[-1].split()
    ramble = " ".join(rng.choice(OFF_TOPIC) for _ in range(60))
    return f"{' '.join(passage[:20])}. {TIC} {ramble}."


@pytest.fixture(scope="module")
def misbehaving_run(tmp_path_factory):
    """One run against a provider whose generator copies, repeats itself, drifts and skews, and
    whose every first attempt fails one time in five (SYNTH_MAX_ATTEMPTS=1: no retry saves it)."""
    home = tmp_path_factory.mktemp("misbehaving")
    patch = pytest.MonkeyPatch()
    patch.setattr(server, "_completion_text", _misbehaving_completion)
    try:
        with server.running_server(faults={"500": 0.2}) as (base_url, stats):
            result = run_graph(home, OPENAI_BASE_URL=base_url, SYNTH_MAX_ATTEMPTS="1", **OPENAI)
            by_kind = dict(stats["by_kind"])
    finally:
        patch.undo()
    return home, result, by_kind


def _texts(home: Path, origin: str) -> list[str]:
    sql = "SELECT text FROM synth.deduplicated_mix WHERE partition_date = ? AND origin = ? ORDER BY item_id"
    return [t for (t,) in query(home, sql, [PARTITION, origin])]


def test_the_misbehaving_run_only_warns(misbehaving_run):
    _, result, _ = misbehaving_run
    assert result.success, "warnings never stop a run"
    assert {"quality_report", "dataset_release"} <= materialised(result)
    failed = {name for name, c in checks_by_name(result).items() if not c.passed}
    assert failed == {
        "generation_error_rate",
        "homogenisation_within_band",
        "drift_within_band",
        "bias_within_band",
        "copying_within_band",
    }


def test_copying_within_band_fires_for_a_model_that_copies_its_passage(misbehaving_run):
    home, result, _ = misbehaving_run
    check = checks_by_name(result)["copying_within_band"]
    assert not check.passed and check.severity.value == "WARN"
    # Every sample in the mix starts with 20 words of its own passage (all of it when shorter): all copy.
    pairs = query(
        home,
        "SELECT m.text, p.passage FROM synth.deduplicated_mix m JOIN synth.seed_prompts p USING (prompt_id) "
        "WHERE m.partition_date = ? AND m.origin = 'synthetic'",
        [PARTITION],
    )
    assert pairs and all(t.startswith(" ".join(p.split()[:20])) for t, p in pairs)
    assert check.metadata["copy_rate"].value == 1.0 > check.metadata["max_copy_rate"].value


def test_homogenisation_within_band_fires_for_a_model_repeating_one_sentence(misbehaving_run):
    home, result, _ = misbehaving_run
    check = checks_by_name(result)["homogenisation_within_band"]
    assert not check.passed and check.severity.value == "WARN"
    synthetic = _texts(home, "synthetic")
    assert all(TIC in t for t in synthetic)
    limit = check.metadata["max_relative"].value
    assert check.metadata["relative_self_repetition"].value > limit


def test_drift_within_band_fires_for_a_model_writing_outside_the_corpus_vocabulary(misbehaving_run):
    home, result, _ = misbehaving_run
    check = checks_by_name(result)["drift_within_band"]
    assert not check.passed and check.severity.value == "WARN"
    # Reference: scipy's Jensen-Shannon distance (base 2) on unigram counts, squared.
    import re
    from collections import Counter

    from scipy.spatial.distance import jensenshannon

    def counts(texts):
        return Counter(w for t in texts for w in re.findall(r"\w+", t.lower()))

    synthetic, real = counts(_texts(home, "synthetic")), counts(_texts(home, "real"))
    vocab = sorted(set(synthetic) | set(real))
    jsd = jensenshannon([synthetic[w] for w in vocab], [real[w] for w in vocab], base=2) ** 2
    assert check.metadata["unigram_jsd"].value == pytest.approx(jsd, abs=0.02)
    assert jsd > check.metadata["max_unigram_jsd"].value


def test_bias_within_band_fires_for_a_model_that_only_speaks_of_men(misbehaving_run):
    home, result, _ = misbehaving_run
    check = checks_by_name(result)["bias_within_band"]
    assert not check.passed and check.severity.value == "WARN"
    # The male group's ratio by hand: Haldane-corrected share of synthetic over real words.
    import re

    from synth_pipeline.metrics.bias import DEFAULT_TERM_GROUPS

    male = set(DEFAULT_TERM_GROUPS["male"])  # the group's definition; the counting is done here
    assert all(" " not in term for term in male)

    def share(texts):
        words = [w for t in texts for w in re.findall(r"\w+", t.lower())]
        return (sum(w in male for w in words) + 0.5) / len(words)

    ratio = share(_texts(home, "synthetic")) / share(_texts(home, "real"))
    assert check.metadata["male.ratio"].value == pytest.approx(ratio, rel=0.05)
    assert check.metadata["max_abs_log_ratio"].value > check.metadata["max_allowed"].value


def test_generation_error_rate_fires_when_the_provider_fails_and_retries_are_off(misbehaving_run):
    home, result, by_kind = misbehaving_run
    check = checks_by_name(result)["generation_error_rate"]
    assert not check.passed and check.severity.value == "WARN"
    errors, samples = query(
        home,
        "SELECT count(*) FILTER (WHERE error IS NOT NULL), count(*) FROM synth.generated_samples "
        "WHERE partition_date = ?",
        [PARTITION],
    )[0]
    assert errors > 0 and by_kind["500"] >= errors  # the server's 500s (judge requests fail too)
    assert check.metadata["error_rate"].value == pytest.approx(errors / samples, abs=1e-6)
    assert check.metadata["error_rate"].value > check.metadata["max_error_rate"].value


# --- judge_differs_from_generator and the cost per accepted sample --------------------
PRICES = {"local-generator": {"input": 1.5, "output": 6.0}}  # USD per 1M tokens


@pytest.fixture(scope="module")
def self_judging_run(tmp_path_factory):
    """The generator grades its own samples; the server's reported usage is kept per response."""
    home = tmp_path_factory.mktemp("self_judging")
    usage: list[tuple[str, int, int]] = []
    original = server.OpenAICompatServer._chat_reply

    async def counted(self, *args, **kwargs):
        status, payload, extra, kind = await original(self, *args, **kwargs)
        if status == 200:
            reply = json.loads(payload)
            usage.append((reply["model"], reply["usage"]["prompt_tokens"], reply["usage"]["completion_tokens"]))
        return status, payload, extra, kind

    patch = pytest.MonkeyPatch()
    patch.setattr(server.OpenAICompatServer, "_chat_reply", counted)
    try:
        with server.running_server() as (base_url, _):
            result = run_graph(
                home,
                OPENAI_BASE_URL=base_url,
                **{**OPENAI, "SYNTH_JUDGE_MODEL": "local-generator"},
                SYNTH_PRICE_TABLE=json.dumps(PRICES),
            )
    finally:
        patch.undo()
    return home, result, usage


def test_judge_differs_from_generator_fires_when_one_model_grades_its_own_samples(self_judging_run):
    home, result, _ = self_judging_run
    check = checks_by_name(result)["judge_differs_from_generator"]
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["judge_is_generator"].value is True
    assert query(home, "SELECT DISTINCT judge_model FROM synth.graded_samples") == [("local-generator",)]
    assert result.success and "quality_report" in materialised(result)
    # The server behaved: every other check of the run passes (the controls of the tests above).
    assert {name for name, c in checks_by_name(result).items() if not c.passed} == {"judge_differs_from_generator"}


def test_usd_per_accepted_sample_is_the_priced_usage_over_accepted_samples(self_judging_run):
    home, _, usage = self_judging_run
    (prompts,) = query(home, "SELECT count(*) FROM synth.seed_prompts WHERE partition_date = ?", [PARTITION])[0]
    assert len(usage) == 2 * prompts  # one generation and one grade per prompt, nothing retried
    price = PRICES["local-generator"]
    usd = sum(p * price["input"] + c * price["output"] for _, p, c in usage) / 1_000_000
    (accepted,) = query(
        home, "SELECT count(*) FROM synth.graded_samples WHERE partition_date = ? AND accepted", [PARTITION]
    )[0]
    metrics = dict(
        query(
            home,
            "SELECT metric, value FROM synth.quality_metrics WHERE partition_date = ? AND scope = 'partition' "
            "AND metric IN ('cost.usd', 'cost.usd_per_accepted_sample')",
            [PARTITION],
        )
    )
    assert accepted > 0
    assert metrics["cost.usd"] == pytest.approx(usd, rel=1e-9)
    assert metrics["cost.usd_per_accepted_sample"] == pytest.approx(usd / accepted, rel=1e-9)
