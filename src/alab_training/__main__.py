import sys

from alab_training.cli import main

sys.exit(main())
