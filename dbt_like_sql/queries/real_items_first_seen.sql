-- real_items_first_seen: the real items of the partition's mix, first seen now (the ledger's first entries).
SELECT item_id, now()::TIMESTAMP AS first_seen
FROM synth.deduplicated_mix
WHERE partition_date = $partition_date AND origin = 'real'
ORDER BY item_id
