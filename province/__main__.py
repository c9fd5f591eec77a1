import sys

from province.cli import main

sys.exit(main())
