-- largest_task_share: share of the partition's synthetic mix items held by its most frequent task
-- (check `diversity_above_thresholds`); 0 without synthetic items.
SELECT coalesce(max(n) / nullif(sum(n), 0), 0)
FROM (
    SELECT count(*) AS n
    FROM synth.deduplicated_mix
    WHERE partition_date = $partition_date AND origin = 'synthetic'
    GROUP BY task
)
