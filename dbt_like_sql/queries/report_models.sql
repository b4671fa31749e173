-- report_models: the generator backend and model and the judge model of the partition (NULL without samples).
SELECT (SELECT any_value(backend) FROM synth.generated_samples WHERE partition_date = $partition_date),
       (SELECT any_value(model) FROM synth.generated_samples WHERE partition_date = $partition_date),
       (SELECT any_value(judge_model) FROM synth.graded_samples WHERE partition_date = $partition_date)
