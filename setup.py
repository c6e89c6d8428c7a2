"""Build hook for the optional compiled cm1 coder; pyproject.toml holds the metadata.

``aigif/textcoding/_cmfast.c`` is built when a C compiler is there. ``optional=True``: when
it cannot be built, the install goes on and ``aigif.textcoding.cm`` uses its pure-Python
reference coder (the same bytes, only slower).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("aigif.textcoding._cmfast", ["aigif/textcoding/_cmfast.c"],
                             optional=True)])
