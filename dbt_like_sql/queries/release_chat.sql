-- release_chat: synthetic items of the release with the prompt messages the generator was sent.
SELECT m.item_id, m.task, strftime(m.partition_date, '%Y-%m-%d'), p.messages, m.text
FROM synth.deduplicated_mix AS m
JOIN synth.seed_prompts AS p ON p.prompt_id = m.prompt_id AND p.partition_date = m.partition_date
WHERE m.origin = 'synthetic' AND m.partition_date <= $partition_date::DATE
ORDER BY m.partition_date, m.origin, m.item_id
