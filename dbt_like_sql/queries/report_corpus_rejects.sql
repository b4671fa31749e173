-- report_corpus_rejects: rejected inputs of the partition by reason (what an empty partition's documents became).
SELECT reason, count(*) AS inputs
FROM synth.raw_corpus_rejects
WHERE partition_date = $partition_date
GROUP BY ALL
ORDER BY inputs DESC, reason
