"""Package data: the small trained checkpoints of `minirmt.course.pretrained` and the results the notebooks show."""
