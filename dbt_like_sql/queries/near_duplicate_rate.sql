-- near_duplicate_rate: synthetic candidates removed as near duplicates (of each other, of an
-- earlier partition, or copying a real document) over the synthetic candidates the judge accepted
-- (check `diversity_above_thresholds`).
SELECT coalesce(
    count(*) FILTER (WHERE exclusion_reason LIKE 'near_duplicate%' OR exclusion_reason = 'synthetic_copies_real')
    / nullif(count(*) FILTER (WHERE exclusion_reason IS NULL OR exclusion_reason NOT LIKE 'not_accepted:%'), 0),
    0)
FROM synth.mix_candidates
WHERE partition_date = $partition_date AND origin = 'synthetic'
