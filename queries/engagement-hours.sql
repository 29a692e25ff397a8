-- First human opens per recipient by weekday and hour of day, in UTC and in the reader's own time zone where it is known, per campaign: when people read.
-- param campaign=
-- param since=0001-01-01
-- param until=9999-12-31
--
-- weekday: 0 = Sunday ... 6 = Saturday. clock = 'utc' for every first open;
-- clock = 'local' for those whose time zone is known (events.time_zone, from
-- a GeoIP City database; local_weekday and local_hour are computed at ingest).
-- Campaigns tracked in aggregate (mint --tracking aggregate) have no
-- per-person first open and are left out.
WITH firsts AS (
    SELECT campaign_id, recipient_id, ts, local_weekday, local_hour,
           row_number() OVER (PARTITION BY campaign_id, recipient_id ORDER BY ts, source_file, source_line) AS k
    FROM events
    WHERE kind = 'open' AND class = 'human' AND recipient_id <> '*'
      AND CAST(ts AS DATE) BETWEEN CAST($since AS DATE) AND CAST($until AS DATE)
      AND ($campaign = '' OR campaign_id = $campaign)
),
first_open AS (SELECT * FROM firsts WHERE k = 1),
both_clocks AS (
    SELECT campaign_id, 'utc' AS clock, CAST(date_part('dow', ts) AS INT) AS weekday,
           CAST(date_part('hour', ts) AS INT) AS hour
    FROM first_open
    UNION ALL
    SELECT campaign_id, 'local' AS clock, local_weekday AS weekday, local_hour AS hour
    FROM first_open WHERE local_hour IS NOT NULL
)
SELECT campaign_id, clock, weekday, hour, count(*) AS first_opens
FROM both_clocks
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4
