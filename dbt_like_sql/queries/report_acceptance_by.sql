-- report_acceptance_by: samples, acceptance rate and mean score of the partition per task, per template
-- version, per audience and per generator model (one grouping set each; `grouped_by` names it).
SELECT CASE
           WHEN grouping(s.task) = 0 THEN 'task'
           WHEN grouping(s.template_version) = 0 THEN 'template_version'
           WHEN grouping(s.audience) = 0 THEN 'audience'
           ELSE 'model'
       END AS grouped_by,
       s.task, s.template_version, s.audience, s.model,
       count(*) AS samples, avg(g.accepted::INT) AS acceptance_rate, avg(g.score) AS mean_score
FROM synth.generated_samples AS s
JOIN synth.graded_samples AS g USING (sample_id, partition_date)
WHERE s.partition_date = $partition_date
GROUP BY GROUPING SETS ((s.task), (s.template_version), (s.audience), (s.model))
ORDER BY grouped_by, s.task, s.template_version, s.audience, s.model
