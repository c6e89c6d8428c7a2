"""The AIGIF v1 bitstream as declarative construct schemas (``elements``) over the checked
primitives (``primitives``: the one varint, guidance/real/dimension forms, limited arrays).

The schemas are the single source of truth of the syntax: ``aigif.io`` builds and parses
with them, and ``tests/test_spec.py`` checks ``spec/aigif-v1.md``'s syntax tables against
``elements.SYNTAX``. Imports only ``aigif.spec`` and construct.
"""
