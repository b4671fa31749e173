-- partition_documents: accepted real documents of the partition (tells an empty partition from an empty stage).
SELECT count(*) FROM synth.raw_corpus WHERE partition_date = $partition_date
