-- report_texts: texts of the partition's mix items of one origin (for a warehouse without stored tables).
SELECT text FROM synth.deduplicated_mix WHERE partition_date = $partition_date AND origin = $origin ORDER BY item_id
