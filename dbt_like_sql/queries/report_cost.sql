-- report_cost: LLM cost, tokens, cache hits and requests of the partition (generation plus grading).
SELECT coalesce(sum(s.cost_usd), 0) + coalesce(sum(g.judge_cost_usd), 0),
       coalesce(sum(s.prompt_tokens + s.completion_tokens), 0)
       + coalesce(sum(g.judge_prompt_tokens + g.judge_completion_tokens), 0),
       coalesce(sum(s.cached::INT), 0) + coalesce(sum(g.judge_cached::INT), 0),
       count(s.sample_id) + count(g.score)
FROM synth.generated_samples AS s
LEFT JOIN synth.graded_samples AS g USING (sample_id, partition_date)
WHERE s.partition_date = $partition_date
