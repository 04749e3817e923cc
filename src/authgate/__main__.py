"""python -m authgate"""

import sys

from authgate.cli import main

sys.exit(main())
