-- release_reported: quality_metrics rows of the release partition (0: no report was computed for it).
SELECT count(*) FROM synth.quality_metrics WHERE partition_date = $partition_date::DATE
