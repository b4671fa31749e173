-- release_partitions: items, synthetic items and tokens of each partition of the release.
SELECT strftime(partition_date, '%Y-%m-%d'), count(*), count(*) FILTER (WHERE origin = 'synthetic'), sum(n_tokens)
FROM synth.deduplicated_mix
WHERE partition_date <= $partition_date::DATE
GROUP BY ALL
ORDER BY 1
