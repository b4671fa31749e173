-- report_worst_accepted: the two worst-graded synthetic items that still entered the partition's mix.
SELECT item_id, score, task, text
FROM synth.deduplicated_mix
WHERE partition_date = $partition_date AND origin = 'synthetic'
ORDER BY score ASC, item_id
LIMIT 2
