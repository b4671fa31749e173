-- release_sources: the 20 corpus sources with the most real documents up to the release partition.
SELECT source, count(*)
FROM synth.raw_corpus
WHERE partition_date <= $partition_date::DATE
GROUP BY ALL
ORDER BY 2 DESC, 1
LIMIT 20
