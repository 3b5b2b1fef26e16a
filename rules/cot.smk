# rules/cot.smk — see README.md
