-- Hits by class and rule per campaign and day: what was counted, what was filtered, and why.
-- param campaign=
-- param since=0001-01-01
-- param until=9999-12-31
SELECT campaign_id, CAST(ts AS DATE) AS day, kind, class, rule_id, reason, count(*) AS hits
FROM events
WHERE CAST(ts AS DATE) BETWEEN CAST($since AS DATE) AND CAST($until AS DATE)
      AND ($campaign = '' OR campaign_id = $campaign)
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY 1, 2, 3, 4, 5
