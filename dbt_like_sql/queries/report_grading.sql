-- report_grading: mean judge score of the partition, and how often the heuristic flags agree with the judge
-- (no flag <=> score >= $min_score) on graded samples; NULL without grades.
SELECT avg(score),
       avg(((len(flags) = 0) = (score >= $min_score))::INT) FILTER (WHERE score IS NOT NULL)
FROM synth.graded_samples
WHERE partition_date = $partition_date
