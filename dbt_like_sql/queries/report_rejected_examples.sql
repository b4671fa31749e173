-- report_rejected_examples: one excluded synthetic sample per kind of reason, up to four.
SELECT x.item_id, x.score, x.reason, s.text
FROM synth.mix_exclusions AS x
LEFT JOIN synth.generated_samples AS s ON s.sample_id = x.sample_id AND s.partition_date = x.partition_date
WHERE x.partition_date = $partition_date AND x.origin = 'synthetic'
QUALIFY row_number() OVER (PARTITION BY split_part(x.reason, ':', 1) ORDER BY x.item_id) = 1
ORDER BY x.reason
LIMIT 4
