"""The ``aigif`` command. The only place that prints or parses argv."""
