"""The peer job in DuckDB: NPS, CSAT ratio, revenue and active customers per segment over the
last 30 days of a cxpulse JSONL file, with cxpulse's reading of the input (SPEC §1-§4):

- invalid lines are dropped (bad JSON, missing/unknown type, missing customer id, bad timestamp,
  negative amount or duration, score out of range), duplicates of an event_id are dropped;
- an event counts in the segments its customer belongs to after the event's own `segments`
  (last writer wins, in file order);
- the 30d window holds the days k with kC - 30 < k <= kC, kC the day of the largest accepted ts;
- active customers: current members whose last activity (max ts of activity events) is in it.

usage: python3 duckdb_job.py FILE THREADS OUT.csv   (prints seconds, events/s and peak memory)
"""
import resource
import sys
import time

import duckdb

path, threads, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
started = time.time()
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute(f"""
CREATE TEMP TABLE raw AS
SELECT row_number() OVER () AS seq, * FROM read_json('{path}', format = 'newline_delimited',
  ignore_errors = true, maximum_object_size = 65536,
  columns = {{type: 'VARCHAR', customer_id: 'VARCHAR', ts: 'VARCHAR', event_id: 'VARCHAR',
    segments: 'STRUCT(plan VARCHAR, region VARCHAR)', kind: 'VARCHAR', amount: 'DOUBLE',
    duration_seconds: 'DOUBLE', survey: 'VARCHAR', score: 'BIGINT'}})
""")
lines = con.execute("SELECT count(*) FROM raw").fetchone()[0]
con.execute("""
CREATE TEMP TABLE ev AS
WITH typed AS (
  SELECT *, CASE WHEN regexp_full_match(ts, '-?[0-9]+') THEN TRY_CAST(ts AS BIGINT)
                 ELSE epoch_ms(TRY_CAST(ts AS TIMESTAMPTZ)) END AS t
  FROM raw
), valid AS (
  SELECT * FROM typed
  WHERE type IN ('interaction', 'survey') AND customer_id IS NOT NULL AND customer_id <> ''
    AND t IS NOT NULL AND regexp_matches(ts, '^-?[0-9]+$|[Zz]$|[+-][0-9][0-9]:[0-9][0-9]$')
    AND (type = 'interaction' OR (survey = 'nps' AND score BETWEEN 0 AND 10)
         OR (survey = 'csat' AND score BETWEEN 1 AND 5) OR (survey = 'ces' AND score BETWEEN 1 AND 7))
    AND (type = 'survey' OR kind IS NOT NULL)
    AND NOT (type = 'interaction' AND kind = 'purchase' AND (amount IS NULL OR amount < 0))
    AND NOT (type = 'interaction' AND kind = 'session' AND (duration_seconds IS NULL OR duration_seconds < 0))
  QUALIFY event_id IS NULL OR event_id = '' OR row_number() OVER (PARTITION BY event_id ORDER BY seq) = 1
)
SELECT seq, customer_id, t, type, kind, amount, survey, score,
  type = 'survey' OR kind NOT IN ('support_first_response', 'support_resolved', 'cancellation') AS activity,
  last_value(NULLIF(segments.plan, '') IGNORE NULLS) OVER w AS plan,
  last_value(NULLIF(segments.region, '') IGNORE NULLS) OVER w AS region
FROM valid
WINDOW w AS (PARTITION BY customer_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
""")
con.execute("""
CREATE TEMP TABLE result AS
WITH clock AS (SELECT max(t) // 86400000 AS kc FROM ev),
win AS (SELECT ev.* FROM ev, clock WHERE t // 86400000 > kc - 30),
seg AS (
  SELECT 'all' AS dimension, 'all' AS segment, * FROM win
  UNION ALL SELECT 'plan', plan, * FROM win WHERE plan IS NOT NULL
  UNION ALL SELECT 'region', region, * FROM win WHERE region IS NOT NULL
),
figures AS (
  SELECT dimension, segment,
    100.0 * (count(*) FILTER (survey = 'nps' AND score >= 9) - count(*) FILTER (survey = 'nps' AND score <= 6))
      / NULLIF(count(*) FILTER (survey = 'nps'), 0) AS nps,
    count(*) FILTER (survey = 'csat' AND score >= 4) / NULLIF(count(*) FILTER (survey = 'csat'), 0) AS csat,
    sum(amount) FILTER (kind = 'purchase' AND type = 'interaction') AS revenue
  FROM seg GROUP BY ALL
),
customers AS (
  SELECT customer_id, max(t) FILTER (activity) AS last_activity,
    arg_max(plan, seq) AS plan, arg_max(region, seq) AS region
  FROM ev GROUP BY customer_id
),
active AS (
  SELECT dimension, segment, count(*) AS active FROM (
    SELECT 'all' AS dimension, 'all' AS segment, * FROM customers
    UNION ALL SELECT 'plan', plan, * FROM customers WHERE plan IS NOT NULL
    UNION ALL SELECT 'region', region, * FROM customers WHERE region IS NOT NULL
  ), clock WHERE last_activity // 86400000 > kc - 30 GROUP BY ALL
)
SELECT dimension, segment, nps, csat, coalesce(revenue, 0) AS revenue, coalesce(active, 0) AS active
FROM figures FULL JOIN active USING (dimension, segment) ORDER BY dimension, segment
""")
con.execute(f"COPY result TO '{out}' (HEADER)")
seconds = time.time() - started
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"duckdb threads={threads}: {lines} lines in {seconds:.2f}s ({lines / seconds:.0f} lines/s), peak RSS {rss // 1024} MiB")
