-- report_trend: the given metrics of every earlier partition's report (partition scope).
SELECT partition_date, metric, value
FROM synth.quality_metrics
WHERE scope = 'partition' AND partition_date < $partition_date AND list_contains($metrics, metric)
