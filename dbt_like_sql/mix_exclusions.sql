-- mix_exclusions: every candidate of the partition that is not in the mix, with its reason.
--
-- Reasons come from synth.mix_candidates (not_accepted:*, exact_duplicate, near_duplicate,
-- exact_duplicate_earlier_partition, near_duplicate_earlier_partition, synthetic_copies_real,
-- contaminated); an eligible candidate left out by the assembly was over the
-- synthetic-ratio budget.
SELECT c.item_id, c.origin, c.doc_id, c.prompt_id, c.sample_id, c.task, c.score,
       coalesce(c.exclusion_reason, 'over_synthetic_ratio_cap') AS reason,
       c.duplicate_of, c.similarity
FROM synth.mix_candidates AS c
WHERE c.partition_date = $partition_date
  AND c.item_id NOT IN (
      SELECT item_id FROM synth.deduplicated_mix WHERE partition_date = $partition_date
  )
ORDER BY reason, c.item_id
