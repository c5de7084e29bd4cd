# tests/pg.sh refuses a PostgreSQL older than 15 (the store's UNIQUE NULLS
# NOT DISTINCT needs 15) with one line, before it makes anything.
mkdir -p old/bin t
printf '#!/bin/sh\necho "initdb (PostgreSQL) 14.11 (Ubuntu 14.11-0ubuntu0.22.04.1)"\n' >old/bin/initdb
chmod +x old/bin/initdb
must_fail 2 env TMPDIR="$PWD/t" OM_PG_BINDIR="$PWD/old/bin" "$OM_TOP/tests/pg.sh" echo ran 2>err
sed "s|$PWD|.|" err
test -z "$(ls t)"
# What it cannot read is refused too.
printf '#!/bin/sh\necho "initdb (PostgreSQL)"\n' >old/bin/initdb
must_fail 2 env TMPDIR="$PWD/t" OM_PG_BINDIR="$PWD/old/bin" "$OM_TOP/tests/pg.sh" echo ran 2>err
sed "s|$PWD|.|" err
test -z "$(ls t)"
