"""The loops that train and evaluate a model, and what they share.

    common.py          the settings every loop has, device and precision, AdamW with warm-up + cosine
    checkpoints.py     checkpoints written atomically, and the random state a resumed run continues
    progress.py        clocks, the progress display and a clean Ctrl-C
    run_folder.py      a run folder's rule: never written over, a resumed run is the saved one, sweep rows keyed
    metrics.py         how answers are scored: accuracy and exact match, teacher-forced or written out
    task_loop.py       the loop for the synthetic tasks: evaluation, curricula, early stop, resume
    hint.py            the memory hint, a training aid that is not in the paper
    recipes.py         the settings that solve each task for each model, in one table
    paper_experiment.py  the paper's algorithmic experiment, seeds and all                      (Sec. 4, 5)
    perplexity.py      a language model scored on a whole stream, state carried               (Sec. 4)
    accel.py           compilation, FLOPs and MFU, several GPUs
    lm_loop.py         the language-model loop, from a laptop CPU to several GPUs             (Sec. 4)

Imports point down: training imports the model, the data and the figures (`minirmt.viz`), never the course.
"""
