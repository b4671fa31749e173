-- funnel_counts: rows at every stage of the partition and the rows lost or doubled between stages
-- (check `funnel_accounts_for_every_row`).
WITH p AS (SELECT prompt_id FROM synth.seed_prompts WHERE partition_date = $partition_date),
s AS (SELECT sample_id, prompt_id FROM synth.generated_samples WHERE partition_date = $partition_date),
g AS (SELECT sample_id FROM synth.graded_samples WHERE partition_date = $partition_date),
r AS (SELECT doc_id FROM synth.raw_corpus WHERE partition_date = $partition_date),
c AS (SELECT item_id FROM synth.mix_candidates WHERE partition_date = $partition_date),
m AS (SELECT item_id FROM synth.deduplicated_mix WHERE partition_date = $partition_date),
x AS (SELECT item_id FROM synth.mix_exclusions WHERE partition_date = $partition_date)
SELECT (SELECT count(*) FROM p) AS prompts,
       (SELECT count(*) FROM s) AS samples,
       (SELECT count(*) FROM p WHERE prompt_id NOT IN (SELECT prompt_id FROM s)) AS prompts_without_sample,
       (SELECT count(*) FROM g) AS grades,
       (SELECT count(*) FROM s WHERE sample_id NOT IN (SELECT sample_id FROM g)) AS samples_without_grade,
       (SELECT count(*) FROM r) AS documents,
       (SELECT count(*) FROM c) AS candidates,
       (SELECT count(*) FROM m) AS in_mix,
       (SELECT count(*) FROM x) AS excluded,
       (SELECT count(*) FROM c WHERE item_id NOT IN (SELECT item_id FROM m UNION ALL SELECT item_id FROM x)) AS lost,
       (SELECT count(*) FROM m WHERE item_id IN (SELECT item_id FROM x)) AS in_both
