"""Dataset release: the cumulative mix as Parquet shards (and chat JSONL), a dataset card, a manifest."""

from synth_pipeline.release.card import ReleaseFacts, render_card
from synth_pipeline.release.export import ReleaseBlocked, ReleaseResult, build_release, sha256_file

__all__ = ["ReleaseBlocked", "ReleaseFacts", "ReleaseResult", "build_release", "render_card", "sha256_file"]
