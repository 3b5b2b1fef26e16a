# rules/evaluate.smk — see README.md
