"""``python -m alab_training.serving``: run the Label Studio ML backend (the options of ``alab-training serve``)."""

import sys

from alab_training.serving.command import main

sys.exit(main())
