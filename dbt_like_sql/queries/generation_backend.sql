-- generation_backend: the backend that generated the partition's samples (NULL without samples).
SELECT any_value(backend) FROM synth.generated_samples WHERE partition_date = $partition_date
