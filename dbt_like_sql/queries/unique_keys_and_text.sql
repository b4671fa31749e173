-- unique_keys_and_text: duplicate item ids, empty texts and items without a document in the partition's mix.
SELECT count(*) - count(DISTINCT item_id),
       count(*) FILTER (WHERE text IS NULL OR trim(text) = ''),
       count(*) FILTER (WHERE doc_id IS NULL)
FROM synth.deduplicated_mix
WHERE partition_date = $partition_date
