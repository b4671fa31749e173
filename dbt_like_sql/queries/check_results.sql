-- check_results: the partition's latest check results as the checking steps stored them (read by the
-- quality report and the dataset card).
SELECT *
FROM synth.check_results
WHERE partition_date = $partition_date::DATE
ORDER BY asset, check_name
