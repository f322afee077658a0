import sys

from isocl.cli import main

sys.exit(main())
