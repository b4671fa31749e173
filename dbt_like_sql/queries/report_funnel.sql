-- report_funnel: rows at each stage of the partition, from documents to exclusions (the report's funnel).
SELECT (SELECT count(*) FROM synth.raw_corpus WHERE partition_date = $partition_date) AS documents,
       (SELECT count(*) FROM synth.raw_corpus_rejects WHERE partition_date = $partition_date) AS corpus_rejects,
       (SELECT count(*) FROM synth.seed_prompts WHERE partition_date = $partition_date) AS prompts,
       (SELECT count(*) FROM synth.generated_samples WHERE partition_date = $partition_date) AS samples,
       (SELECT count(*) FROM synth.generated_samples
        WHERE partition_date = $partition_date AND error IS NOT NULL) AS generation_errors,
       (SELECT count(*) FROM synth.graded_samples
        WHERE partition_date = $partition_date AND score IS NOT NULL) AS graded,
       (SELECT count(*) FROM synth.graded_samples WHERE partition_date = $partition_date AND accepted) AS accepted,
       (SELECT count(*) FROM synth.graded_samples
        WHERE partition_date = $partition_date AND grade_status = 'parse_error') AS parse_failures,
       (SELECT count(*) FROM synth.graded_samples
        WHERE partition_date = $partition_date AND rejection_reason LIKE 'flag:%') AS blocking_flags,
       (SELECT count(*) FROM synth.mix_exclusions WHERE partition_date = $partition_date) AS excluded
