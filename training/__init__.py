"""Training, dataset generation and evaluation for the models and tables aigif ships.

Not part of the wheel: run from a checkout (``python -m training.embedded.train``,
``python -m training.textcoding.train``). Tested in ``tests/test_training_*.py``.
"""
