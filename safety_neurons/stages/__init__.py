"""Every model stage's entry point, one module per stage family: typed parameters and file paths in, files out.

Each ``scripts/*.py`` adapter calls one function here inside ``workflow.script.job``; the algorithms live in
their layers (``neurons``, ``experiments``, ``evaluation``) and know nothing of files or rules. One module per
family keeps a stage's code version (``workflow.provenance``) to the code it runs: editing the safeguard does not
rerun change scores. Heavy imports stay inside the functions, so a stage pays only for what it uses.
"""
