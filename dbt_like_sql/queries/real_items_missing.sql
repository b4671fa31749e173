-- real_items_missing: real items the ledger recorded (every partition) that are no longer in the mix
-- (check `real_data_accumulates`). An item now excluded as a duplicate of an item that *is* in the mix
-- lost no real content (a backfill may materialise partitions out of order): only the rest counts.
WITH in_mix AS (SELECT DISTINCT item_id FROM synth.deduplicated_mix),
duplicated AS (
    SELECT c.item_id, c.partition_date
    FROM synth.mix_candidates AS c
    WHERE c.exclusion_reason LIKE '%duplicate%' AND c.duplicate_of IN (SELECT item_id FROM in_mix)
)
SELECT count(*) FILTER (WHERE m.item_id IS NULL AND d.item_id IS NULL) AS missing,
       count(*) AS recorded,
       list(l.item_id || ' @ ' || l.partition_date ORDER BY l.partition_date, l.item_id)
           FILTER (WHERE m.item_id IS NULL AND d.item_id IS NULL)[1:5] AS examples
FROM synth.real_item_ledger AS l
LEFT JOIN synth.deduplicated_mix AS m USING (item_id, partition_date)
LEFT JOIN duplicated AS d USING (item_id, partition_date)
