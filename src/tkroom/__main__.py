from tkroom.cli import main

raise SystemExit(main())
