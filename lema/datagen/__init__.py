"""Data generation (method steps 2-6): sampling, mistakes, corrections, evolution, CoT, mixes, the
funnel."""
