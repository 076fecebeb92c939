"""What a model reads: batches of token ids `(b, s)`. Imports only the model's conventions (config fields, -100).

    tasks/          the synthetic tasks: copy, reverse, associative recall, MQAR, classification, the needle,
                    and the paper's own layouts (RMT paper, Sec. 4)
    corpora.py      WikiText (words) and byte corpora as one long stream, cut into contiguous batches
    downloads.py    the data folder, and WikiText fetched and checked
"""
