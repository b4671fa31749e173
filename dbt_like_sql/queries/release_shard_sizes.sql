-- release_shard_sizes: estimated bytes of each row of the release, in release order: the text's UTF-8
-- bytes plus $row_overhead_bytes for ids and numbers (uncompressed, as `datasets` sizes shards).
SELECT strlen(coalesce(text, '')) + $row_overhead_bytes
FROM synth.deduplicated_mix
WHERE partition_date <= $partition_date::DATE
ORDER BY partition_date, origin, item_id
