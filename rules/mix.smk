# rules/mix.smk — see README.md
