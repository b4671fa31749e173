-- release_quality_metrics: the quality reports' figures of every partition up to the release partition.
SELECT strftime(partition_date, '%Y-%m-%d'), scope, metric, value
FROM synth.quality_metrics
WHERE partition_date <= $partition_date::DATE
ORDER BY partition_date
