-- report_best_accepted: the two best-graded synthetic items of the partition's mix.
SELECT item_id, score, task, text
FROM synth.deduplicated_mix
WHERE partition_date = $partition_date AND origin = 'synthetic'
ORDER BY score DESC, item_id
LIMIT 2
