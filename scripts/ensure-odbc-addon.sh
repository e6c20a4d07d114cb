#!/usr/bin/env bash
# Makes sure the optional `odbc` addon loads, so that the ODBC tests run for real. On a fresh machine `npm ci` runs
# before unixODBC's headers are installed (scripts/ci-databases.sh installs them), so npm skipped the package whose
# build failed; once the headers are there, this installs the locked packages again (which builds the addon), or
# rebuilds an addon that is present but does not load. Idempotent: prints one line and changes nothing when the
# addon loads. Needs Node 24 first on PATH (the Makefile puts it there).
set -euo pipefail
cd "$(dirname "$0")/.."

loads() { node -e "import('odbc').then(() => process.exit(0), () => process.exit(1))" 2>/dev/null; }

if loads; then
  echo "ensure-odbc-addon: the odbc addon loads" >&2
  exit 0
fi
[ -f /usr/include/sql.h ] || {
  echo "ensure-odbc-addon: unixODBC's headers are missing (apt-get install unixodbc unixodbc-dev, or run scripts/ci-databases.sh)" >&2
  exit 1
}
if [ -d node_modules/odbc ]; then
  echo "ensure-odbc-addon: the odbc addon does not load: npm rebuild odbc" >&2
  npm rebuild odbc --no-audit --no-fund >&2
else
  echo "ensure-odbc-addon: npm skipped odbc (no unixODBC headers at install time): npm ci again to build it" >&2
  npm ci --no-audit --no-fund >&2
  touch node_modules/.installed
fi
loads || { echo "ensure-odbc-addon: the odbc addon still does not load after building it" >&2; exit 1; }
echo "ensure-odbc-addon: the odbc addon is built and loads" >&2
