"""rrg_registry: the results registry of rrg (runs, checkpoints, metrics, predictions, publications).

It knows nothing of torch, transformers or the rrg SDK.
"""
