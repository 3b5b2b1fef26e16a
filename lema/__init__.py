"""lema: Learning From Mistakes (An et al., 2023) as a reproducible Snakemake build graph."""

__version__ = "0.1.0"
