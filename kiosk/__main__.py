"""`python -m kiosk`: the same as the `kiosk` console command."""

from kiosk.cli import main

raise SystemExit(main())
