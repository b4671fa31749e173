-- release_models: the generator backends and models and the judge models behind the release.
SELECT DISTINCT s.backend, s.model, g.judge_model
FROM synth.generated_samples AS s
LEFT JOIN synth.graded_samples AS g USING (sample_id, partition_date)
WHERE s.partition_date <= $partition_date::DATE AND s.backend IS NOT NULL
ORDER BY ALL
