# rules/correct.smk — see README.md
