"""The bottom layer: the shared domain types and helpers every other package builds on.

Request and response models (:mod:`core.schema`), placements and their limits (:mod:`core.placements`),
the input-error contract (:mod:`core.errors`), what the machine computes natively (:mod:`core.hardware`)
and where the project keeps its files (:mod:`core.paths`). Nothing here imports another package of the
project (an import-linter contract in ``pyproject.toml`` checks it).
"""
