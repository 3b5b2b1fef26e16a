# rules/data.smk — see README.md
