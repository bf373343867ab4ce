"""Training stages: each turns a :class:`~rrg.plan.Plan` into a TRL trainer and runs it.

``sft`` runs TRL's ``SFTTrainer``, ``grpo`` its ``GRPOTrainer``; PEFT wraps the model from the
``LoraConfig`` built in :mod:`rrg.train.adapter`. Registry recording, heartbeats and progress
are ``TrainerCallback``s (:mod:`rrg.train.callbacks`).
"""
