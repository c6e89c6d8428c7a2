"""cm1 prompt-model fitting (``python -m training.textcoding.train``)."""
