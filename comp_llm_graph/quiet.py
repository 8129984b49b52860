"""Third-party progress bars stay off unless asked for.

Loading MiniLM printed transformers' "Loading weights" bar on stderr in every process, also
under `--json`. A library should not draw on a terminal it does not own: the bars of
transformers and huggingface_hub are turned off where this package loads a model, unless
`COMP_LLM_PROGRESS=1` asks for them. This package's own progress (the CLI's rich bars, model
assembly) is unaffected.
"""

from __future__ import annotations

import os

__all__ = ["PROGRESS_VARIABLE", "quiet_third_party"]

PROGRESS_VARIABLE = "COMP_LLM_PROGRESS"
"""Set to 1 to see the progress bars of transformers and huggingface_hub."""


def quiet_third_party() -> None:
    """Turn off the progress bars of transformers and huggingface_hub (see the module doc)."""
    if os.environ.get(PROGRESS_VARIABLE, "").strip() not in ("", "0"):
        return
    # In this process only: an environment variable would reach every child process too.
    try:
        from huggingface_hub.utils import disable_progress_bars
    except ImportError:
        pass
    else:
        disable_progress_bars()
    try:
        from transformers.utils import logging
    except ImportError:  # transformers is only needed by some backends
        return
    logging.disable_progress_bar()
