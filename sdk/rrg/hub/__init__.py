"""Publishing run adapters to the Hugging Face Hub and pulling them back.

- :mod:`rrg.hub.run_record`: what a card and an upload need from a recorded run;
- :mod:`rrg.hub.licenses`: the adapter's licence, from the base model's and the data's;
- :mod:`rrg.hub.card`: model card metadata, rendering (``cards/``) and validation;
- :mod:`rrg.hub.bundle`: the folder that gets uploaded, with sha256 sums;
- :mod:`rrg.hub.publish`: the upload (``rrg publish``) and its record in the registry;
- :mod:`rrg.hub.pull`: download, verification and registration (``rrg pull``, ``hub:`` adapters).

Nothing here imports huggingface_hub, jinja2 or torch at import time.
"""
