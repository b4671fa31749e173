-- real_item_ledger: the partition's ledger after this materialisation of the mix: every real item
-- it ever held, first seen when it first entered. Earlier entries stay even when the item left the
-- mix, so the check `real_data_accumulates` can see it go.
SELECT item_id, min(first_seen) AS first_seen
FROM (
    SELECT item_id, first_seen FROM synth.real_item_ledger WHERE partition_date = $partition_date
    UNION ALL
    SELECT item_id, now()::TIMESTAMP FROM synth.deduplicated_mix
    WHERE partition_date = $partition_date AND origin = 'real'
)
GROUP BY item_id
ORDER BY item_id
