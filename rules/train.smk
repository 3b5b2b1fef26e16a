# rules/train.smk — see README.md
