"""Deterministic synthetic extracts of every raw feed (see `synth.generate` and docs/generator.md)."""

from dagster_project.generate.synth import SAMPLE, GeneratorError, generate

__all__ = ["SAMPLE", "GeneratorError", "generate"]
