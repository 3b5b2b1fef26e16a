"""Fine-tuning (method step 7): settings, the trainer run with checkpoints/resume, merge."""
