"""The paper's MNIST, deep and self-supervised claims tested with many paired planes (issue 14):
the ``reduced`` profile's run (:mod:`.run`), its committed results and verdicts (:mod:`.results`).

Regenerate the committed results: ``python -m geomlib.experiments.claims --profile reduced``.
"""
