"""Answer extraction, normalisation, equivalence and the sympy worker pool: how every stage
grades."""
