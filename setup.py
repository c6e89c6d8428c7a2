"""Build hook for the optional compiled text coders; pyproject.toml holds the metadata.

``aigif/textcoding/_cmfast.c`` (method 2, cm1) and ``_cm2fast.c`` (method 3, cm2 decoder)
are built when a C compiler is there. ``optional=True``: when one cannot be built, the
install goes on and ``aigif.textcoding.cm`` / ``cm2`` use their pure-Python reference coders
(the same bytes and texts, only slower).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("aigif.textcoding._cmfast", ["aigif/textcoding/_cmfast.c"],
                             optional=True),
                   Extension("aigif.textcoding._cm2fast", ["aigif/textcoding/_cm2fast.c"],
                             optional=True)])
