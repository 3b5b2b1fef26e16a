# rules/sample.smk — see README.md
