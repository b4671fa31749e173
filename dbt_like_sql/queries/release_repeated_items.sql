-- release_repeated_items: items whose id (a content hash) already shipped in an earlier partition of the
-- release: the corpus cycled through its slices, or a partition was re-run with a different date.
SELECT count(*) - count(DISTINCT item_id)
FROM synth.deduplicated_mix
WHERE partition_date <= $partition_date::DATE
