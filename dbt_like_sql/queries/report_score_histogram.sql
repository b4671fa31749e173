-- report_score_histogram: graded samples of the partition per whole judge score.
SELECT floor(score)::INT AS score, count(*) AS samples
FROM synth.graded_samples
WHERE partition_date = $partition_date AND score IS NOT NULL
GROUP BY ALL
ORDER BY score
