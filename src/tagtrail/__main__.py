from tagtrail.cli.main import main

raise SystemExit(main())
