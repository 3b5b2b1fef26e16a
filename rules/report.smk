# rules/report.smk — see README.md
