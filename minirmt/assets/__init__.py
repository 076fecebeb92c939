"""Package data: the small trained checkpoints of `minirmt.pretrained` and the results the notebooks show."""
