#!/bin/sh
# sqlite3 with a large in-memory database, under lego-run with an ExCache
# of a quarter of its native peak: the query results equal the native run's.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
command -v sqlite3 >/dev/null || { echo "SKIP: no sqlite3"; exit 77; }
cat >"$T/sqlite.in" <<'SQL'
PRAGMA cache_size = -400000;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
INSERT INTO t SELECT x, (x * 7919) % 100003, printf('%0100d', x * 31) FROM c;
CREATE INDEX tk ON t(k);
SELECT count(*), sum(k), sum(length(v)) FROM t;
SELECT k, count(*) FROM t GROUP BY k ORDER BY count(*) DESC, k LIMIT 5;
UPDATE t SET v = upper(v) || 'z' WHERE id % 3 = 0;
DELETE FROM t WHERE k < 1000;
SELECT count(*), sum(id), max(length(v)) FROM t;
SELECT id, substr(v, 1, 12) FROM t WHERE k = 5000 ORDER BY id LIMIT 3;
SELECT sum(length(a.v)) FROM t a JOIN t b ON a.id = b.k WHERE b.id % 7 = 0;
SQL
vs_native sqlite sqlite3 :memory:
pass "sqlite3 in-memory database (300k rows): results equal native; peak RSS $LPEAK MiB with a $XC MiB ExCache (native $NPEAK MiB), $WB MiB written back"
