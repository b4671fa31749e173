-- release_pipeline_versions: items of the release per pipeline version that made them.
SELECT pipeline_version, count(*)
FROM synth.deduplicated_mix
WHERE partition_date <= $partition_date::DATE
GROUP BY ALL
ORDER BY ALL
