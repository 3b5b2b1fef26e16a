# rules/models.smk — see README.md
