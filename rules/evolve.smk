# rules/evolve.smk — see README.md
