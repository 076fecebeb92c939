"""The notebooks' side: what a lesson uses on top of the library.

    nb.py            notebook set-up in one call: mode, threads, seeds, device, plotting defaults
    pretrained.py    the small trained models and results the notebooks load (course/assets/)
    long_context.py  reading far past the training length: accuracy by length and depth, cost
    meter.py         what a call costs: median time and peak tensor memory
    probe.py         linear probes of hidden states
    widgets.py       sliders wired to the figures of `minirmt.viz`
    checks/          the exercise checkers, one module per lesson
    exercises.py     learner copies without solutions, their links, and an nbgrader course

The course imports everything below it; nothing below imports the course.
"""
