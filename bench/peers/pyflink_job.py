"""The peer job in PyFlink (Table API, batch mode, SQL): NPS, CSAT ratio, revenue and active
customers per segment over the last 30 days of a `cxpulse simulate` file, with the same reading
of the input as bench/peers/duckdb_job.py. Flink has no line numbers, so "the segments after the
event" follow event time (the simulator writes in time order); RFC 3339 times are parsed with the
simulator's pattern (milliseconds, offset).

usage: python3 pyflink_job.py FILE PARALLELISM OUT.csv   (prints seconds and events/s)
"""
import csv
import sys
import time

from pyflink.table import EnvironmentSettings, TableEnvironment

path, parallelism, out = sys.argv[1], sys.argv[2], sys.argv[3]
started = time.time()
env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
env.get_config().set("parallelism.default", parallelism)
env.get_config().set("taskmanager.memory.process.size", "2g")
env.execute_sql(f"""
CREATE TABLE events_raw (
  `type` STRING, customer_id STRING, ts STRING, event_id STRING,
  segments ROW<plan STRING, region STRING>, kind STRING, amount DOUBLE, duration_seconds DOUBLE,
  survey STRING, score BIGINT
) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json',
        'json.ignore-parse-errors' = 'true')
""")
env.execute_sql("""
CREATE TEMPORARY VIEW typed AS
SELECT *,
  CASE WHEN REGEXP(ts, '^-?[0-9]+$') THEN CAST(ts AS BIGINT)
       WHEN REGEXP(ts, '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}(Z|[+-][0-9]{2}:[0-9]{2})$')
         THEN UNIX_TIMESTAMP(ts, 'yyyy-MM-dd''T''HH:mm:ss.SSSXXX') * 1000 + CAST(SUBSTRING(ts FROM 21 FOR 3) AS BIGINT)
  END AS t
FROM events_raw
""")
env.execute_sql("""
CREATE TEMPORARY VIEW valid_events AS
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY COALESCE(event_id, CAST(RAND() AS STRING)) ORDER BY t) AS copy_no
  FROM typed
  WHERE `type` IN ('interaction', 'survey') AND customer_id IS NOT NULL AND customer_id <> ''
    AND t IS NOT NULL
    AND (`type` = 'interaction' OR (survey = 'nps' AND score BETWEEN 0 AND 10)
         OR (survey = 'csat' AND score BETWEEN 1 AND 5) OR (survey = 'ces' AND score BETWEEN 1 AND 7))
    AND (`type` = 'survey' OR kind IS NOT NULL)
    AND NOT (`type` = 'interaction' AND kind = 'purchase' AND (amount IS NULL OR amount < 0))
    AND NOT (`type` = 'interaction' AND kind = 'session' AND (duration_seconds IS NULL OR duration_seconds < 0))
) WHERE copy_no = 1
""")
env.execute_sql("""
CREATE TEMPORARY VIEW ev AS
SELECT customer_id, t, `type`, kind, amount, survey, score,
  (`type` = 'survey' OR kind NOT IN ('support_first_response', 'support_resolved', 'cancellation')) AS activity,
  LAST_VALUE(NULLIF(segments.plan, '')) OVER w AS plan,
  LAST_VALUE(NULLIF(segments.region, '')) OVER w AS region
FROM valid_events
WINDOW w AS (PARTITION BY customer_id ORDER BY t ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
""")
env.execute_sql("CREATE TEMPORARY VIEW stream_clock AS SELECT MAX(t) / 86400000 AS kc FROM ev")
env.execute_sql("""
CREATE TEMPORARY VIEW win AS SELECT ev.* FROM ev, stream_clock WHERE ev.t / 86400000 > stream_clock.kc - 30
""")
env.execute_sql("""
CREATE TEMPORARY VIEW seg AS
  SELECT 'all' AS dimension, 'all' AS segment, survey, score, kind, `type`, amount FROM win
  UNION ALL SELECT 'plan', plan, survey, score, kind, `type`, amount FROM win WHERE plan IS NOT NULL
  UNION ALL SELECT 'region', region, survey, score, kind, `type`, amount FROM win WHERE region IS NOT NULL
""")
env.execute_sql("""
CREATE TEMPORARY VIEW customers AS
SELECT l.customer_id, a.last_activity, l.plan, l.region
FROM (SELECT customer_id, plan, region FROM (
        SELECT customer_id, plan, region, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY t DESC) AS r FROM ev
      ) WHERE r = 1) AS l
JOIN (SELECT customer_id, MAX(CASE WHEN activity THEN t END) AS last_activity FROM ev GROUP BY customer_id) AS a
  ON l.customer_id = a.customer_id
""")
figures = env.sql_query("""
SELECT dimension, segment,
  100.0 * (SUM(CASE WHEN survey = 'nps' AND score >= 9 THEN 1 ELSE 0 END)
           - SUM(CASE WHEN survey = 'nps' AND score <= 6 THEN 1 ELSE 0 END))
    / NULLIF(SUM(CASE WHEN survey = 'nps' THEN 1 ELSE 0 END), 0) AS nps,
  CAST(SUM(CASE WHEN survey = 'csat' AND score >= 4 THEN 1 ELSE 0 END) AS DOUBLE)
    / NULLIF(SUM(CASE WHEN survey = 'csat' THEN 1 ELSE 0 END), 0) AS csat,
  SUM(CASE WHEN `type` = 'interaction' AND kind = 'purchase' THEN amount ELSE 0 END) AS revenue
FROM seg GROUP BY dimension, segment
""")
active = env.sql_query("""
SELECT dimension, segment, COUNT(*) AS active FROM (
  SELECT 'all' AS dimension, 'all' AS segment, last_activity FROM customers
  UNION ALL SELECT 'plan', plan, last_activity FROM customers WHERE plan IS NOT NULL
  UNION ALL SELECT 'region', region, last_activity FROM customers WHERE region IS NOT NULL
) AS c, stream_clock WHERE c.last_activity / 86400000 > stream_clock.kc - 30 GROUP BY dimension, segment
""")
env.create_temporary_view("figures", figures)
env.create_temporary_view("active_counts", active)
result = env.sql_query("""
SELECT f.dimension, f.segment, f.nps, f.csat, f.revenue, COALESCE(a.active, 0) AS active
FROM figures AS f LEFT JOIN active_counts AS a ON f.dimension = a.dimension AND f.segment = a.segment
""")
rows = list(result.execute().collect())
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["dimension", "segment", "nps", "csat", "revenue", "active"])
    for r in sorted(rows, key=lambda r: (r[0], r[1])):
        w.writerow(["" if v is None else v for v in r])
seconds = time.time() - started
lines = sum(1 for _ in open(path, "rb"))
print(f"pyflink parallelism={parallelism}: {lines} lines in {seconds:.2f}s ({lines / seconds:.0f} lines/s)")
