-- mix_shares: the synthetic share of the mix over the partitions $since to $until.
--
-- The one definition of the synthetic share, read by the blocking check
-- `synthetic_ratio_within_cap` (partition and cumulative), the quality report
-- (mix.* figures) and the release gate: tokens and items, 0 when the mix is empty.
WITH counts AS (
    SELECT count(*) AS items,
           count(*) FILTER (WHERE origin = 'synthetic') AS synthetic_items,
           count(*) FILTER (WHERE origin = 'real') AS real_items,
           coalesce(sum(n_tokens), 0) AS tokens,
           coalesce(sum(n_tokens) FILTER (WHERE origin = 'synthetic'), 0) AS synthetic_tokens,
           coalesce(sum(n_tokens) FILTER (WHERE origin = 'real'), 0) AS real_tokens,
           count(DISTINCT partition_date) AS partitions
    FROM synth.deduplicated_mix
    WHERE partition_date BETWEEN $since AND $until
)
SELECT items, synthetic_items, real_items, tokens, synthetic_tokens, real_tokens, partitions,
       coalesce(synthetic_items / nullif(items, 0), 0) AS synthetic_item_share,
       coalesce(synthetic_tokens / nullif(tokens, 0), 0) AS synthetic_token_share
FROM counts
