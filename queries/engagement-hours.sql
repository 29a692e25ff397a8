-- First human opens per recipient by weekday and hour of day (UTC), per campaign: when people read.
-- param campaign=
-- param since=0001-01-01
-- param until=9999-12-31
--
-- weekday: 0 = Sunday ... 6 = Saturday. Times are UTC; the recipient's own
-- time zone (events.time_zone, from a GeoIP City database) is not applied yet.
WITH first_open AS (
    SELECT campaign_id, recipient_id, min(ts) AS ts
    FROM events
    WHERE kind = 'open' AND class = 'human'
      AND CAST(ts AS DATE) BETWEEN CAST($since AS DATE) AND CAST($until AS DATE)
      AND ($campaign = '' OR campaign_id = $campaign)
    GROUP BY campaign_id, recipient_id
)
SELECT campaign_id,
       CAST(date_part('dow', ts) AS INT) AS weekday,
       CAST(date_part('hour', ts) AS INT) AS hour_utc,
       count(*) AS first_opens
FROM first_open
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
