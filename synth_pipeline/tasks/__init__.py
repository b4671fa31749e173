"""Tasks: what a model is asked and how its replies become rows.

A task formats its input into messages, owns its output schema and parses the reply
(``generation``, ``grading``); ``samples`` turns results into rows and ``flags`` holds the
heuristic sample flags. Backends (``synth_pipeline.llm``) only move the messages.
"""
