-- deduplicated_mix: the training mix of one partition, one row per item.
--
-- Every eligible real document enters. Eligible synthetic samples (accepted by the judge,
-- not duplicates, not contaminated: see synth.mix_candidates) enter in round-robin order
-- across tasks, best-graded first within a task, so no task or template dominates, until
-- the synthetic token budget is spent:
--     budget = real tokens x target / (1 - target)
-- which makes the synthetic token share at most $target_synthetic_ratio. The blocking
-- check `synthetic_ratio_within_cap` verifies the result against the independent cap
-- SYNTH_MAX_SYNTHETIC_RATIO, for this partition and for the cumulative mix.
WITH eligible AS (
    SELECT *
    FROM synth.mix_candidates
    WHERE partition_date = $partition_date
      AND exclusion_reason IS NULL
),
budget AS (
    SELECT coalesce(sum(n_tokens), 0) * $target_synthetic_ratio / (1 - $target_synthetic_ratio) AS tokens
    FROM eligible
    WHERE origin = 'real'
),
synthetic_ranked AS (
    SELECT *,
           row_number() OVER (PARTITION BY task ORDER BY score DESC, priority) AS rank_in_task
    FROM eligible
    WHERE origin = 'synthetic'
),
synthetic_running AS (
    SELECT *,
           sum(n_tokens) OVER (
               ORDER BY rank_in_task, score DESC, priority
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
           ) AS running_tokens
    FROM synthetic_ranked
)
SELECT item_id, origin, text, n_tokens, doc_id, prompt_id, sample_id, task, audience,
       template_version, model, score, pipeline_version, NULL::BIGINT AS rank_in_task
FROM eligible
WHERE origin = 'real'
UNION ALL
SELECT item_id, origin, text, n_tokens, doc_id, prompt_id, sample_id, task, audience,
       template_version, model, score, pipeline_version, rank_in_task
FROM synthetic_running, budget
WHERE running_tokens <= budget.tokens
ORDER BY origin, item_id
