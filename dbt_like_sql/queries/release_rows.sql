-- release_rows: the cumulative mix up to the release partition, in a fixed order (partition, origin,
-- item id), so a re-release of the same data writes the same bytes.
SELECT *
FROM synth.deduplicated_mix
WHERE partition_date <= $partition_date::DATE
ORDER BY partition_date, origin, item_id
