from bai_lsp.cli import main

raise SystemExit(main())
