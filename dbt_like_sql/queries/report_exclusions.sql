-- report_exclusions: the partition's excluded candidates by origin and reason.
SELECT origin, reason, count(*) AS items
FROM synth.mix_exclusions
WHERE partition_date = $partition_date
GROUP BY ALL
ORDER BY items DESC
