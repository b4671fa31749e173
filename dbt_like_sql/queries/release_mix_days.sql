-- release_mix_days: the partitions up to the release partition that have rows in the mix.
SELECT DISTINCT strftime(partition_date, '%Y-%m-%d')
FROM synth.deduplicated_mix
WHERE partition_date <= $partition_date::DATE
ORDER BY 1
